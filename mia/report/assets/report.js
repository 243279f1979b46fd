"use strict";
(function () {
  const data = JSON.parse(document.getElementById("mia-data").textContent);
  const $ = (id) => document.getElementById(id);
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "style") for (const [name, value] of Object.entries(v)) {
        if (name.startsWith("--")) node.style.setProperty(name, String(value)); else node.style[name] = value;
      }
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
    return node;
  }
  const fmt = (v, d = 3) => (v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toFixed(d));
  const det = data.detector, H = data.heads;
  $("subtitle").textContent = `${det.model} · ${det.relation} · mia ${data.mia_version}`;

  // --- detector card ------------------------------------------------------------------------------------
  (function card() {
    const kv = (k, v) => el("div", { class: "kv" }, el("b", {}, k), " ", v === undefined || v === null ? "–" : v);
    const d = det.data || {};
    $("card-body").append(el("div", { class: "card-grid" },
      kv("model", `${det.model} (${det.model_type})`), kv("relation", det.relation),
      kv("training data", [d.source, d.corpus || d.pairs_file, d.copies].filter(Boolean).join(" · ")),
      kv("pairs", `${det.split.train ?? "–"} train · ${det.split.validation ?? "–"} validation · ${det.split.test ?? "–"} test`),
      kv("threshold", fmt(det.threshold)), kv("decoding", det.decode), kv("trained with", det.trained_with)));
    $("card-body").append(el("p", { class: "headline" }, det.headline));
    const table = (title, rows, cols) => {
      const names = Object.keys(rows || {});
      if (!names.length) return null;
      const t = el("table", {}, el("tr", {}, el("th", {}, title), cols.map((c) => el("th", {}, c.replace("_", " ")))));
      for (const name of names) {
        t.append(el("tr", { class: name === "detector" ? "best" : null }, el("td", {}, name === "detector" ? `detector (${det.decode})` : `baseline: ${name}`),
          cols.map((c) => el("td", {}, fmt(rows[name][c])))));
      }
      return t;
    };
    const word = table("word level (held-out)", det.word_level, ["precision", "recall", "f1"]);
    const token = table("token level (secondary)", det.token_level, ["average_precision", "roc_auc", "precision", "recall", "f1"]);
    for (const t of [word, token]) if (t) $("card-body").append(t);
    $("card-body").append(el("p", { class: "note" }, `Measured on ${det.evaluated_on || "the held-out test pairs"}; the baselines on the same pairs. The word level is what detect prints: the detector's decoded links.`));
  })();

  // --- heads: heatmaps, card, sortable table ---------------------------------------------------------------
  const summaries = H.summaries;
  const byName = Object.fromEntries(summaries.map((s) => [s.head, s]));
  function showHead(name) {
    const s = byName[name], box = $("head-card");
    if (!s) return;
    box.hidden = false;
    box.replaceChildren(el("h3", {}, `${name}: rank ${s.rank} by ${H.ranking}`),
      el("div", { class: "kv" }, el("b", {}, "own AUC"), ` ${fmt(s.auc)} ${s.auc_interval ? `[${fmt(s.auc_interval[0])}, ${fmt(s.auc_interval[1])}]` : ""}`),
      el("div", { class: "kv" }, el("b", {}, "summed weight"), ` ${fmt(s.weight, 2)} ${s.weight_interval ? `[${fmt(s.weight_interval[0], 2)}, ${fmt(s.weight_interval[1], 2)}]` : ""}${s.weight_crosses_zero ? " (interval holds 0)" : ""}`),
      el("div", { class: "kv" }, el("b", {}, "in top 10"), ` ${s.auc_top10_share === null ? "–" : Math.round(100 * s.auc_top10_share) + "% of AUC resamples"}, ${s.weight_top10_share === null ? "–" : Math.round(100 * s.weight_top10_share) + "% of weight refits"}`),
      Object.keys(s.types || {}).length ? el("table", {}, el("tr", {}, el("th", {}, "direction"), Object.keys(Object.values(s.types)[0]).map((p) => el("th", {}, p)), el("th", {}, "dominant")),
        Object.entries(s.types).map(([dir, t]) => el("tr", {}, el("td", {}, dir), Object.values(t).map((v) => el("td", {}, fmt(v))), el("td", {}, s.dominant_type[dir])))) :
        el("p", { class: "note" }, "No head-type scores in this detector (retrain it to record them)."));
    document.querySelectorAll(".cell.chosen").forEach((c) => c.classList.remove("chosen"));
    document.querySelectorAll(`.cell[data-head="${name}"]`).forEach((c) => c.classList.add("chosen"));
  }
  // one layer x head grid of buttons; cell(l, h) gives each button's { value, label, mark } (colour from value)
  function headGrid(layers, heads, limit, positive, cell) {
    const grid = el("div", { class: "heatmap", style: { gridTemplateColumns: `22px repeat(${heads}, 22px)` } });
    grid.append(el("span", { class: "lab" }, ""));
    for (let h = 0; h < heads; h++) grid.append(el("span", { class: "lab" }, h));
    for (let l = 0; l < layers; l++) {
      grid.append(el("span", { class: "lab" }, "L" + l));
      for (let h = 0; h < heads; h++) {
        const { value, label, mark } = cell(l, h), v = value ?? 0, a = Math.min(1, Math.abs(v) / limit), name = `L${l}H${h}`;
        grid.append(el("button", { class: "cell", "data-head": name, title: `${name} ${label}: ${fmt(value)}`, "aria-label": `${name} ${label} ${fmt(value)}`,
          style: { background: v >= 0 ? `rgba(${positive},${a})` : `rgba(40,90,200,${a})` }, onclick: () => showHead(name) }, mark || ""));
      }
    }
    return grid;
  }
  (function heatmaps() {
    const limit = Math.max(1e-9, ...H.coef.flat(3).map(Math.abs));
    $("heads-note").textContent = `Standardised weight of each head per direction and offset (red: evidence of a link, blue: against). × marks a head whose summed-weight interval holds 0. Click a head for its card. The table is sorted by ${H.ranking}; click a column to sort.`;
    H.offsets.forEach((offset, o) => H.directions.forEach((dir, d) => {
      const grid = headGrid(H.layers, H.heads, limit, "200,40,40", (l, h) => {
        const s = byName[`L${l}H${h}`];
        return { value: H.coef[o][d][l][h], label: `${dir} ${offset} weight`, mark: s && s.weight_crosses_zero ? "×" : "" };
      });
      const panel = el("div", {}, el("div", { class: "heatmap-title" }, `${dir} ${offset}`), grid);
      if (o === 0) $("heatmaps").append(panel);
      else {
        let more = $("more-offsets");
        if (!more) {
          more = el("div", { id: "more-offsets", class: "more" });
          $("heatmaps").after(el("details", {}, el("summary", {}, `the heads read at ${H.offsets.length - 1} context offsets`), more));
        }
        more.append(panel);
      }
    }));
  })();
  (function table() {
    const cols = [["rank", (s) => s.rank], ["head", (s) => s.head], ["own AUC", (s) => s.auc], ["AUC top-10 share", (s) => s.auc_top10_share],
      ["weight", (s) => s.weight], ["weight top-10 share", (s) => s.weight_top10_share],
      ["copy", (s) => meanType(s, "copy")], ["duplicate", (s) => meanType(s, "duplicate")], ["retrieval", (s) => meanType(s, "retrieval")],
      ["previous token", (s) => meanType(s, "previous token")], ["sink", (s) => meanType(s, "sink")], ["dominant type", (s) => [...new Set(Object.values(s.dominant_type || {}))].join(" / ")]];
    let rows = summaries.slice(), key = 0, desc = false;
    const t = $("head-table");
    function draw() {
      t.replaceChildren(el("tr", {}, cols.map(([name], i) => el("th", { onclick: () => { desc = key === i ? !desc : i > 1 && i < 11; key = i; sort(); draw(); } }, name + (key === i ? (desc ? " ▾" : " ▴") : "")))),
        ...rows.map((s) => el("tr", { onclick: () => showHead(s.head) }, cols.map(([, f], i) => el("td", {}, typeof f(s) === "number" ? fmt(f(s), i === 0 ? 0 : 3) : (f(s) ?? "–"))))));
    }
    function sort() {
      const f = cols[key][1];
      rows.sort((x, y) => { const a = f(x), b = f(y); const c = (a ?? -Infinity) > (b ?? -Infinity) ? 1 : (a ?? -Infinity) < (b ?? -Infinity) ? -1 : 0; return desc ? -c : c; });
    }
    draw();
  })();
  function meanType(s, p) {
    const v = Object.values(s.types || {}).map((t) => t[p]).filter((x) => x !== null && !Number.isNaN(x));
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
  }

  // --- readers and computers: readout weight, necessity, sufficiency side by side ----------------------------
  (function causal() {
    const C = data.causal;
    if (!C) return;
    $("causal").hidden = false;
    $("causal-note").textContent = `Three maps of the same heads: the readout (summed standardised weight: the detector reads the head's attention), necessity (share of the match signal lost when the head's output comes from the corrupted run) and sufficiency (share recovered the other way), from activation patching on ${C.pairs} pairs (${C.corruption}). ${C.rule}. Click a column of the table to sort.`;
    const maps = [["readout weight", C.weight, true], ["necessity", C.necessity, false], ["sufficiency", C.sufficiency, false]];
    for (const [title, values, signed] of maps) {
      const limit = Math.max(1e-9, ...values.flat().map((v) => Math.abs(v ?? 0)));
      const grid = headGrid(C.layers, C.heads, limit, signed ? "200,40,40" : "30,130,70",
        (l, h) => ({ value: values[l][h], label: title }));
      $("causal-maps").append(el("div", {}, el("div", { class: "heatmap-title" }, title), grid));
    }
    const cols = [["head", (r) => r.name], ["layer", (r) => r.layer], ["readout weight", (r) => r.readout_weight], ["necessity", (r) => r.necessity],
      ["sufficiency", (r) => r.sufficiency], ["pattern necessity", (r) => r.pattern_necessity], ["value necessity", (r) => r.value_necessity],
      ["role", (r) => r.role], ["dominant type", (r) => [...new Set(Object.values(r.dominant_type || {}))].join(" / ")]];
    let rows = C.rows.slice(), key = 3, desc = true;
    const t = $("causal-table");
    function sort() {
      const f = cols[key][1];
      rows.sort((x, y) => { const a = f(x), b = f(y); const c = (a ?? -Infinity) > (b ?? -Infinity) ? 1 : (a ?? -Infinity) < (b ?? -Infinity) ? -1 : 0; return desc ? -c : c; });
    }
    function draw() {
      t.replaceChildren(el("tr", {}, cols.map(([name], i) => el("th", { onclick: () => { desc = key === i ? !desc : i >= 2 && i <= 6; key = i; sort(); draw(); } }, name + (key === i ? (desc ? " ▾" : " ▴") : "")))),
        ...rows.map((r) => el("tr", { onclick: () => showHead(r.name) }, cols.map(([, f]) => el("td", {}, typeof f(r) === "number" ? fmt(f(r), 3) : (f(r) ?? "–"))))));
    }
    sort(); draw();
  })();

  // --- compared with another detector of the same model --------------------------------------------------
  (function compare() {
    const K = data.compare;
    if (!K) return;
    $("compare").hidden = false;
    $("compare-note").textContent = `This detector (${det.relation}) beside ${K.other} (${K.other_relation}): how far the two agree on their heads, ranking by ranking.` +
      (K.rankings.some((r) => r.resamples) ? ` Intervals: 2.5th to 97.5th percentile over ${Math.max(...K.rankings.map((r) => r.resamples))} paired resamples of the two detectors' test pairs.` : " Intervals: not measured (a detector records no resampled head AUCs).");
    const span = (pair, digits) => (pair ? `[${fmt(pair[0], digits)}, ${fmt(pair[1], digits)}]` : "–");
    $("compare-table").append(el("tr", {}, ["ranking", "items", "Spearman", "95% interval", "top 10 in common", "95% interval"].map((c) => el("th", {}, c))),
      ...K.rankings.map((r) => el("tr", {}, el("td", {}, r.ranking), el("td", {}, r.items), el("td", {}, fmt(r.spearman)), el("td", {}, span(r.spearman_interval, 3)),
        el("td", {}, r.top10_common), el("td", {}, span(r.top10_common_interval, 0)))));
    const box = $("compare-specific");
    if (!K.specific) { box.append(el("p", { class: "note" }, "Heads specific to one detector: not measured (a detector records no resampled head AUCs).")); return; }
    box.append(el("p", { class: "note" }, K.rule + "."));
    const list = (title, rows) => el("p", {}, el("b", {}, title + ": "), rows.length ? rows.map((d) => `${d.name} (rank ${d.first_rank}, AUC ${fmt(d.first_auc)}; there rank ${d.second_rank})`).join(", ") : "none");
    box.append(list("specific to this detector", K.specific.this), list(`specific to ${K.other}`, K.specific.other));
  })();

  // --- detections -------------------------------------------------------------------------------------------
  const pairs = data.pairs;
  let current = null;
  if (!pairs.length) { $("det-note").textContent = "No pairs in this report: give --pairs, or --a-file and --b-file."; }
  else {
    $("det-note").textContent = `${pairs.length} pair${pairs.length > 1 ? "s" : ""}. ${data.contribution_rule}. Head views: ${data.qk_cap}.`;
    if (pairs.length > 1) {
      $("pair-choice").hidden = false;
      pairs.forEach((p, i) => $("pair-select").append(el("option", { value: i }, `${p.id} (${p.phrases.length} phrases)`)));
      $("pair-select").addEventListener("change", (e) => showPair(+e.target.value));
    }
    showPair(0);
  }
  function hue(k) { return (k * 137.508) % 360; }
  function segments(text, spans) {  // spans: [start, end, phrase]; cut only at phrase boundaries
    const cuts = new Set([0, text.length]);
    spans.forEach(([s, e]) => { cuts.add(s); cuts.add(e); });
    const points = [...cuts].sort((a, b) => a - b), out = [];
    for (let i = 0; i + 1 < points.length; i++) {
      const s = points[i], e = points[i + 1];
      const owners = spans.filter(([ps, pe]) => ps <= s && e <= pe).sort((x, y) => (x[1] - x[0]) - (y[1] - y[0]));
      out.push([s, e, owners.map((o) => o[2])]);  // innermost (shortest) phrase first: it gives the colour
    }
    return out;
  }
  function renderText(box, text, spans, side) {
    const nodes = segments(text, spans).map(([s, e, ks]) => !ks.length ? document.createTextNode(text.slice(s, e)) :
      el("mark", { class: "ph", tabindex: 0, "data-p": ks[0], "data-ps": ks.join(" "), "data-side": side, style: { "--h": hue(ks[0]) } }, text.slice(s, e)));
    box.replaceChildren(...nodes);
  }
  function showPair(index) {
    const p = pairs[index];
    current = p;
    $("qk").replaceChildren();
    const windows = p.windows && !p.windows.whole ? ` Ran as ${p.windows.window_pairs_run} window pairs (${p.windows.a_windows} x ${p.windows.b_windows} windows); head views are computed for pairs that fit the model whole.` : "";
    $("pair-summary").replaceChildren(el("p", {}, el("b", {}, `pair ${p.id}: ${p.phrases.length} phrases`), ` · ${p.a.length} and ${p.b.length} characters.${windows}`, p.error ? ` Error: ${p.error}` : ""));
    renderText($("text-a"), p.a, p.phrases.map((ph, k) => [ph.a[0], ph.a[1], k]), "a");
    renderText($("text-b"), p.b, p.phrases.map((ph, k) => [ph.b[0], ph.b[1], k]), "b");
    const strip = $("strip");
    strip.replaceChildren(...["a", "b"].map((side) => el("div", { class: "strip-row" }, el("span", {}, side.toUpperCase()),
      el("div", { class: "strip-bar" }, p.phrases.map((ph, k) => el("span", { "data-p": k, title: ph[side + "_text"].slice(0, 80),
        style: { "--h": hue(k), left: `${(100 * ph[side][0]) / Math.max(1, p[side].length)}%`, width: `${(100 * (ph[side][1] - ph[side][0])) / Math.max(1, p[side].length)}%` },
        onclick: () => { const m = document.querySelector(`#text-${side} mark[data-ps~="${k}"]`); if (m) { m.scrollIntoView({ block: "center" }); m.focus(); } } }))))));
  }
  function activate(k, on) {
    document.querySelectorAll(`mark.ph[data-ps~="${k}"]`).forEach((m) => m.classList.toggle("active", on));
    if (!on) return;
    const ph = current.phrases[k];
    const heads = (ph.heads || []).map((h) => `${h.head} (${h.contribution >= 0 ? "+" : ""}${fmt(h.contribution, 2)})`).join(", ");
    $("phrase-info").replaceChildren(el("p", {}, el("b", {}, `phrase ${k + 1}: score ${fmt(ph.score)}`), ` · ${ph.words} linked words · A ${ph.a[0]}–${ph.a[1]} · B ${ph.b[0]}–${ph.b[1]}`),
      el("p", {}, heads ? `heads that contributed most: ${heads}` : "contributing heads: computed for pairs that fit the model whole"));
  }
  function showQK(k) {
    const ph = current.phrases[k], qk = current.qk, box = $("qk");
    if (!qk || qk.unavailable || !ph.links.length) { box.replaceChildren(el("p", { class: "note" }, qk && qk.unavailable ? qk.unavailable : "No head view for this phrase (computed for linked tokens of pairs that fit the model whole, within the cap).")); return; }
    const query = qk.direction === "b->a" ? 1 : 0;
    const link = ph.links.find((l) => qk.tokens.includes(l[query]));
    if (!link) { box.replaceChildren(el("p", { class: "note" }, "This phrase's tokens are beyond the stored cap: " + data.qk_cap)); return; }
    const row = qk.tokens.indexOf(link[query]);
    const qSpans = query ? current.b_spans : current.a_spans, kSpans = query ? current.a_spans : current.b_spans;
    const qText = query ? current.b : current.a, kText = query ? current.a : current.b;
    const word = (spans, text, i) => text.slice(spans[i][0], spans[i][1]);
    const target = link[1 - query];
    box.replaceChildren(el("h3", {}, `Token “${word(qSpans, qText, link[query])}” (${qk.direction}): each top head's attention over the other text, top 8 tokens, with the query-key score before the softmax. Linked partner: “${word(kSpans, kText, target)}”.`),
      el("div", { class: "qk-grid" }, qk.heads.map((name, h) => {
        const weights = qk.weights[h][row], scores = qk.scores[h][row];
        const order = weights.map((w, j) => j).sort((x, y) => weights[y] - weights[x]).slice(0, 8);
        return el("div", {}, el("b", {}, name), el("table", {}, el("tr", {}, el("th", {}, "token"), el("th", {}, "attention"), el("th", {}, "QK score")),
          order.map((j) => el("tr", {}, el("td", { class: "tok" }, (j === target ? "▶ " : "") + word(kSpans, kText, j)),
            el("td", {}, el("span", { class: "bar", style: { width: `${Math.round(60 * weights[j])}px` } }), " ", fmt(weights[j])), el("td", {}, fmt(scores[j], 2))))));
      })));
  }
  for (const side of ["text-a", "text-b"]) {
    const box = $(side);
    box.addEventListener("mouseover", (e) => { const m = e.target.closest("mark.ph"); if (m) activate(+m.dataset.p, true); });
    box.addEventListener("mouseout", (e) => { const m = e.target.closest("mark.ph"); if (m) activate(+m.dataset.p, false); });
    box.addEventListener("focusin", (e) => { const m = e.target.closest("mark.ph"); if (m) activate(+m.dataset.p, true); });
    box.addEventListener("focusout", (e) => { const m = e.target.closest("mark.ph"); if (m) activate(+m.dataset.p, false); });
    box.addEventListener("click", (e) => { const m = e.target.closest("mark.ph"); if (m) showQK(+m.dataset.p); });
    box.addEventListener("keydown", (e) => { const m = e.target.closest("mark.ph"); if (m && e.key === "Enter") showQK(+m.dataset.p); });
  }
  $("footer").textContent = `Made by mia ${data.mia_version}. Self-contained: no network, no external files. The same data: mia report --format json.`;
  document.body.dataset.ready = "true";
})();
