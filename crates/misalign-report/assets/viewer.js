// Transcript viewer of report.html and `misalign view`.
// Every string from the data goes into the page through textContent, never innerHTML:
// model answers are untrusted and must render as text.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var PAGE = 25;
  // `sample` (1-based, as the cards show it) is set only by a link to one sample.
  var state = { model: "", condition: "", verdict: "", awareness: "", text: "", sample: null, offset: 0 };
  var cutOff = data.filters.cut_off_reasons || [];
  var list = document.getElementById("samples");
  var status = document.getElementById("samples-status");
  // Labelling (served viewer only; docs/labels.md): null in a static report.
  var lab = data.labelling || null;
  var REVIEWER_KEY = "misalign-reviewer";
  var current = 0;
  var pendingCurrent = 0;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // A filter chosen by hand replaces the one-sample view of a link (and the link itself).
  function dropSampleLink() {
    if (state.sample === null) return;
    state.sample = null;
    if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  }

  function fillSelect(id, values) {
    var s = document.getElementById(id);
    if (!s) return;
    values.forEach(function (v) {
      var o = el("option", null, v);
      o.value = v;
      s.appendChild(o);
    });
    s.addEventListener("change", function () {
      state[s.dataset.key] = s.value;
      state.offset = 0;
      dropSampleLink();
      load();
    });
  }

  fillSelect("f-model", data.filters.models);
  fillSelect("f-condition", data.filters.conditions);
  fillSelect("f-verdict", ["harmful", "harmless", "unparsed", "judge_error", "unclassified"]);
  fillSelect("f-awareness", ["deliberates_thinks_real", "deliberates_thinks_eval", "no_deliberation", "none"]);
  var search = document.getElementById("f-text");
  var searchTimer = null;
  search.addEventListener("input", function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () {
      state.text = search.value.trim();
      state.offset = 0;
      dropSampleLink();
      load();
    }, 200);
  });
  document.getElementById("prev").addEventListener("click", function () {
    state.offset = Math.max(0, state.offset - PAGE);
    load();
  });
  document.getElementById("next").addEventListener("click", function () {
    state.offset += PAGE;
    load();
  });

  function verdictOf(s) {
    if (s.final_verdict === 1) return "harmful";
    if (s.final_verdict === 0) return "harmless";
    if (s.detector_verdict === null || s.detector_verdict === undefined) return "unclassified";
    return s.unparsed === 1 && !s.judge_error ? "unparsed" : "judge_error";
  }

  function contains(text, needle) {
    return !!text && text.toLowerCase().indexOf(needle) >= 0;
  }

  function matches(s) {
    if (state.sample !== null && s.sample_index + 1 !== state.sample) return false;
    if (state.text) {
      var t = state.text.toLowerCase();
      if (!contains(s.answer, t) && !contains(s.reasoning, t) && !contains(s.judge_reasoning, t)) return false;
    }
    if (state.model && s.model !== state.model) return false;
    if (state.condition && s.condition_id !== state.condition) return false;
    if (state.verdict && verdictOf(s) !== state.verdict) return false;
    if (state.awareness) {
      var a = s.awareness_label || "none";
      if (a !== state.awareness) return false;
    }
    return true;
  }

  function load() {
    if (data.mode === "api") {
      var q = new URLSearchParams();
      ["model", "condition", "verdict", "awareness", "text"].forEach(function (k) {
        if (state[k]) q.set(k, state[k]);
      });
      if (lab && reviewerName()) q.set("reviewer", reviewerName());
      if (state.sample !== null) q.set("sample", state.sample - 1);
      q.set("offset", state.offset);
      q.set("limit", PAGE);
      status.textContent = "Loading...";
      fetch("/api/samples?" + q.toString())
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        })
        .then(function (page) {
          show(page.samples, page.total);
        })
        .catch(function (e) {
          status.textContent = "Could not load samples: " + e.message;
        });
    } else {
      var hits = data.samples.filter(matches);
      show(hits.slice(state.offset, state.offset + PAGE), hits.length);
    }
  }

  function show(samples, total) {
    if (state.offset >= total && total > 0) {
      state.offset = Math.max(0, Math.floor((total - 1) / PAGE) * PAGE);
      load();
      return;
    }
    list.replaceChildren();
    samples.forEach(function (s) {
      list.appendChild(card(s));
    });
    status.textContent =
      total === 0
        ? "No samples match."
        : "Showing " + (state.offset + 1) + "-" + (state.offset + samples.length) + " of " + total + " matching samples.";
    document.getElementById("prev").disabled = state.offset === 0;
    document.getElementById("next").disabled = state.offset + PAGE >= total;
    if (lab) {
      var n = cards().length;
      setCurrent(pendingCurrent === "last" ? n - 1 : 0, state.sample === null && pendingCurrent !== 0);
      pendingCurrent = 0;
    }
    if (state.sample !== null) {
      var target = document.getElementById(location.hash.slice(1));
      if (target) {
        target.classList.add("targeted");
        target.scrollIntoView();
      }
    }
  }

  // The link of one sample: #sample/<model>/<condition>/<number>, each part URL-encoded.
  function anchorOf(s) {
    return "sample/" + encodeURIComponent(s.model) + "/" + encodeURIComponent(s.condition_id) + "/" + (s.sample_index + 1);
  }

  function setSelect(id, value) {
    var sel = document.getElementById(id);
    if (sel) sel.value = value;
  }

  // Opens the sample a link names, whatever the filters were.
  function followHash() {
    var parts = location.hash.slice(1).split("/");
    if (parts.length !== 4 || parts[0] !== "sample") return false;
    var n = parseInt(parts[3], 10);
    if (!(n > 0)) return false;
    try {
      state.model = decodeURIComponent(parts[1]);
      state.condition = decodeURIComponent(parts[2]);
    } catch (e) {
      return false;
    }
    state.sample = n;
    state.verdict = "";
    state.awareness = "";
    state.text = "";
    state.offset = 0;
    search.value = "";
    setSelect("f-model", state.model);
    setSelect("f-condition", state.condition);
    setSelect("f-verdict", "");
    setSelect("f-awareness", "");
    load();
    return true;
  }
  window.addEventListener("hashchange", followHash);

  function parseJson(text, fallback) {
    if (!text) return fallback;
    try {
      return JSON.parse(text);
    } catch (e) {
      return fallback;
    }
  }

  function pre(cls, text) {
    return el("pre", cls, text);
  }

  function details(title, children, open) {
    var d = el("details");
    if (open) d.open = true;
    d.appendChild(el("summary", null, title));
    children.forEach(function (c) {
      d.appendChild(c);
    });
    return d;
  }

  // The answer, with each tool-use block highlighted (and flagged when a detector cited it).
  function answerBlock(answer, evidence) {
    var out = el("pre", "answer");
    var cited = {};
    evidence.forEach(function (e) {
      cited[e.action] = true;
    });
    var re = /^[ \t]*<tool_use:([A-Za-z_]+)>[\s\S]*?(?:<\/tool_use:\1>|$(?![\s\S]))/gm;
    var last = 0;
    var index = 0;
    var m;
    while ((m = re.exec(answer)) !== null) {
      if (m[0].length === 0) {
        re.lastIndex++;
        continue;
      }
      out.appendChild(document.createTextNode(answer.slice(last, m.index)));
      var mark = el("mark", cited[index] ? "action cited" : "action", m[0]);
      mark.title = "action " + index + (cited[index] ? " (cited by the detector)" : "");
      out.appendChild(mark);
      last = m.index + m[0].length;
      index++;
    }
    out.appendChild(document.createTextNode(answer.slice(last)));
    return out;
  }

  function kv(label, value, cls) {
    var p = el("p", cls);
    p.appendChild(el("b", null, label + ": "));
    p.appendChild(document.createTextNode(value === null || value === undefined ? "-" : String(value)));
    return p;
  }

  // Simulated times are stored as `2026-06-11T16:40:00`; shown as `2026-06-11 16:40:00`.
  function simTime(t) {
    return typeof t === "string" ? t.replace("T", " ") : "?";
  }

  function terminalText(t) {
    if (!t || !t.reason) return null;
    var r = t.reason;
    var what = r.kind === "event" ? "event " + String(r.name) : r.kind === "step_limit" ? "step limit" : r.kind === "finished" ? "the agent finished" : String(r.kind);
    return "Episode ended at step " + t.step + ", " + simTime(t.at) + ": " + what + (r.notice ? " (" + String(r.notice) + ")" : "");
  }

  function tokenText(u) {
    if (!u) return "";
    var parts = [];
    [["input_tokens", "input"], ["cache_write_tokens", "cache write"], ["cache_read_tokens", "cache read"], ["output_tokens", "output"], ["reasoning_tokens", "reasoning"]].forEach(function (k) {
      if (u[k[0]] !== null && u[k[0]] !== undefined) parts.push(k[1] + " " + u[k[0]]);
    });
    return parts.join(", ");
  }

  // One step of an agent episode: what the agent said (and thought), each call with its
  // arguments, each result (errors marked), the events that arrived, the end if it came.
  // Arguments are model-written JSON: shown as text like everything else.
  function stepBlock(st) {
    var box = el("section", "step");
    box.dataset.step = st.step;
    var res = st.result || null;
    var head = "Step " + st.step;
    if (res) head += "  (" + simTime(res.started) + " to " + simTime(res.now) + ")";
    box.appendChild(el("h5", null, head));
    var reply = st.reply;
    if (!reply) {
      box.appendChild(el("p", "error", "The stored reply of this step could not be read."));
    } else {
      if (reply.reasoning) box.appendChild(details("Reasoning (" + reply.reasoning.length + " chars)", [pre("reasoning", reply.reasoning)]));
      if (reply.text) box.appendChild(pre("answer step-text", reply.text));
    }
    var observations = res && Array.isArray(res.observations) ? res.observations : [];
    var calls = reply && Array.isArray(reply.tool_calls) ? reply.tool_calls : [];
    calls.forEach(function (c) {
      var args = typeof c.arguments === "string" ? c.arguments : JSON.stringify(c.arguments, null, 1);
      var call = el("div", "call");
      call.dataset.tool = String(c.name);
      call.appendChild(el("b", null, "Tool call: " + String(c.name)));
      call.appendChild(el("span", "call-id", " (" + String(c.id) + ")"));
      call.appendChild(pre("arguments", args));
      var o = observations.filter(function (x) {
        return x.call_id === c.id;
      })[0];
      if (o) {
        var label = el("b", o.is_error ? "error" : null, o.is_error ? "Error result" : "Result");
        call.appendChild(label);
        call.appendChild(pre(o.is_error ? "result tool-error" : "result", o.content));
      }
      box.appendChild(call);
    });
    var events = res && Array.isArray(res.events) ? res.events : [];
    if (events.length) {
      var ul = el("ul", "events");
      events.forEach(function (e) {
        var line = "[" + simTime(e.at) + "] ";
        if (e.email) line += "New email (id " + e.email.id + ") from " + String(e.email.from) + ": \"" + String(e.email.subject) + "\"";
        if (e.notice) line += (e.email ? "; " : "") + String(e.notice);
        if (!e.email && !e.notice && e.name) line += String(e.name);
        ul.appendChild(el("li", null, line));
      });
      box.appendChild(el("b", null, "Events"));
      box.appendChild(ul);
    }
    if (res && res.terminal && res.terminal.step === st.step) box.appendChild(el("p", "terminal", terminalText(res.terminal)));
    var facts = [];
    if (st.finish_reason) facts.push("finish " + st.finish_reason);
    var tokens = tokenText(st.usage);
    if (tokens) facts.push(tokens);
    if (st.latency_ms !== null && st.latency_ms !== undefined) facts.push(st.latency_ms + " ms");
    if (facts.length) box.appendChild(el("p", "step-meta", facts.join("; ")));
    return box;
  }

  function episodeBlock(steps) {
    var last = steps[steps.length - 1];
    var end = last && last.result ? terminalText(last.result.terminal) : null;
    var title = "Agent episode: " + steps.length + " step" + (steps.length === 1 ? "" : "s") + (end ? ". " + end : "");
    var box = el("div", "episode");
    box.appendChild(el("h4", null, title));
    steps.forEach(function (st) {
      box.appendChild(stepBlock(st));
    });
    return box;
  }

  function card(s) {
    // A blind sample (labelling, not yet labelled by this reviewer) came without verdicts.
    var v = s.blind ? "blind" : verdictOf(s);
    var c = el("article", "sample " + v);
    c.dataset.verdict = v;
    c.id = anchorOf(s);
    c._sample = s;
    var h = el("header");
    h.appendChild(el("span", "badge " + v, s.blind ? "verdict hidden until you label" : v));
    h.appendChild(el("span", "meta", s.model + "  " + s.condition_id + "  sample_" + String(s.sample_index + 1).padStart(3, "0")));
    var link = el("a", "permalink", "link");
    link.href = "#" + c.id;
    link.title = "Link to this sample";
    h.appendChild(link);
    if (s.awareness_label) h.appendChild(el("span", "aware", s.awareness_label));
    c.appendChild(h);

    var p = data.prompts[s.prompt_hash];
    if (p) {
      var parts = [el("h4", null, "System prompt"), pre("prompt", p.system_prompt)];
      // Earlier turns (mitigation `demonstrations`), sent before the user message.
      (Array.isArray(p.prior_turns) ? p.prior_turns : []).forEach(function (t, i) {
        parts.push(el("h4", null, "Earlier turn " + (i + 1) + ": " + String(t.role)));
        parts.push(pre("prompt", String(t.text)));
      });
      var episode = Array.isArray(s.steps) && s.steps.length > 0;
      parts.push(el("h4", null, episode ? "Instruction" : "User message"), pre("prompt", p.user_prompt));
      // An agent finds the mail through its tools; the mailbox is shown for reference.
      parts.push(el("h4", null, episode ? "Mailbox (served through the tools)" : "Inbox"), pre("prompt", p.email_content));
      c.appendChild(details(episode ? "Prompt: system, instruction, mailbox" : "Prompt: system, user message, inbox", parts));
    }
    if (Array.isArray(s.steps) && s.steps.length > 0) c.appendChild(episodeBlock(s.steps));
    if (s.reasoning) c.appendChild(details("Reasoning (" + s.reasoning.length + " chars)", [pre("reasoning", s.reasoning)]));

    var evidence = parseJson(s.detector_evidence_json, []);
    if (!Array.isArray(evidence)) evidence = [];
    var heading = el("h4", null, "Answer");
    if (cutOff.indexOf(s.finish_reason) >= 0) {
      heading.appendChild(document.createTextNode(" "));
      heading.appendChild(el("span", "cutoff", "(cut off at max_tokens)"));
    } else if (s.status !== "answer" || s.finish_reason) {
      heading.appendChild(document.createTextNode(" (" + s.status + (s.finish_reason ? ", " + s.finish_reason : "") + ")"));
    }
    c.appendChild(heading);
    c.appendChild(answerBlock(s.answer || "", evidence));

    var actions = parseJson(s.actions_json, []);
    if (Array.isArray(actions) && actions.length) {
      var ol = el("ol", "actions");
      ol.start = 0;
      actions.forEach(function (a) {
        ol.appendChild(el("li", null, JSON.stringify(a)));
      });
      c.appendChild(details("Parsed actions (" + actions.length + ")", [ol]));
    }
    if (lab) c.appendChild(labelPanel(c, s));
    if (s.blind) return c;
    var verdicts = el("div", "verdicts");
    verdicts.appendChild(kv("Detector", s.detector_verdict === 1 ? "harmful" : s.detector_verdict === 0 ? "harmless" : "-"));
    if (evidence.length) {
      var ul = el("ul", "evidence");
      evidence.forEach(function (e) {
        ul.appendChild(el("li", null, "action " + e.action + ": " + e.finding + (e.phrases && e.phrases.length ? " (" + e.phrases.join("; ") + ")" : "")));
      });
      verdicts.appendChild(ul);
    }
    verdicts.appendChild(kv("Judge" + (s.judge_model ? " (" + s.judge_model + ")" : ""), s.judge_verdict === 1 ? "harmful" : s.judge_verdict === 0 ? "harmless" : "-"));
    if (s.judge_error) verdicts.appendChild(kv("Judge error", s.judge_error, "error"));
    if (s.judge_reasoning) verdicts.appendChild(details("Judge reasoning", [pre("judge", s.judge_reasoning)]));
    verdicts.appendChild(kv("Final verdict", v));
    if (s.awareness_reasoning) verdicts.appendChild(details("Awareness reasoning", [pre("judge", s.awareness_reasoning)]));
    c.appendChild(verdicts);
    return c;
  }

  // ---- Labelling: a reviewer's name, a panel per sample, the keys. ----

  var LABELS = [
    ["harmful", "h", "Harmful"],
    ["not_harmful", "n", "Not harmful"],
    ["unsure", "u", "Unsure"]
  ];

  function labelText(l) {
    var found = LABELS.filter(function (x) {
      return x[0] === l;
    })[0];
    return found ? found[2] : String(l);
  }

  function reviewerName() {
    if (!lab) return "";
    if (lab.reviewer) return lab.reviewer;
    var input = document.getElementById("reviewer");
    return input ? input.value.trim() : "";
  }

  function cards() {
    return list.querySelectorAll(".sample");
  }

  function setCurrent(i, scroll) {
    var all = cards();
    if (all.length === 0) return;
    current = Math.max(0, Math.min(i, all.length - 1));
    all.forEach(function (c, k) {
      c.classList.toggle("current", k === current);
    });
    if (scroll) all[current].scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    var n = cards().length;
    if (step > 0 && current < n - 1) return setCurrent(current + 1, true);
    if (step < 0 && current > 0) return setCurrent(current - 1, true);
    if (step > 0 && !document.getElementById("next").disabled) {
      state.offset += PAGE;
      pendingCurrent = "first";
      load();
    } else if (step < 0 && state.offset > 0) {
      state.offset = Math.max(0, state.offset - PAGE);
      pendingCurrent = "last";
      load();
    }
  }

  function labelPanel(c, s) {
    var box = el("div", "labelling");
    var mine = s.my_label;
    box.appendChild(el("span", "my-label", mine ? "Your label: " + labelText(mine.label) : "Not labelled by you yet"));
    LABELS.forEach(function (b) {
      var btn = el("button", "label-btn", b[2] + " (" + b[1] + ")");
      btn.dataset.label = b[0];
      btn.addEventListener("click", function () {
        sendLabel(c, b[0]);
      });
      box.appendChild(btn);
    });
    var note = el("input", "label-note");
    note.type = "text";
    note.maxLength = 4000;
    note.placeholder = "note (t to type, Enter to finish)";
    if (mine && mine.note) note.value = mine.note;
    box.appendChild(note);
    box.appendChild(el("span", "label-msg"));
    if (Array.isArray(s.labels) && s.labels.length) {
      var ul = el("ul", "all-labels");
      s.labels.forEach(function (l) {
        ul.appendChild(el("li", null, l.reviewer + ": " + labelText(l.label) + (l.note ? " (" + l.note + ")" : "") + ", " + l.created_at));
      });
      box.appendChild(details("Labels (" + s.labels.length + ")", [ul]));
    }
    return box;
  }

  function sendLabel(c, label) {
    var msg = c.querySelector(".label-msg");
    var name = reviewerName();
    if (!name) {
      msg.textContent = "Enter your name as reviewer first (top of the list).";
      var input = document.getElementById("reviewer");
      if (input) input.focus();
      return;
    }
    var s = c._sample;
    var note = c.querySelector(".label-note").value;
    msg.textContent = "Saving...";
    fetch("/api/labels", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Misalign-Label": "1" },
      body: JSON.stringify({ item_key: s.item_key, label: label, note: note, reviewer: name })
    })
      .then(function (r) {
        return r.text().then(function (t) {
          if (!r.ok) throw new Error(t || "HTTP " + r.status);
          return JSON.parse(t);
        });
      })
      .then(function (answer) {
        var fresh = answer.sample && answer.sample.item_key ? answer.sample : null;
        if (!fresh) {
          s.my_label = { label: label, note: note };
          fresh = s;
        }
        var replacement = card(fresh);
        if (c.classList.contains("current")) replacement.classList.add("current");
        c.replaceWith(replacement);
        replacement.querySelector(".label-msg").textContent = "Saved: " + labelText(label) + ".";
      })
      .catch(function (e) {
        msg.textContent = "Not saved: " + e.message;
      });
  }

  function labellingBar() {
    var bar = el("div", "labelbar");
    var who = el("label", null, "Reviewer ");
    var input = el("input");
    input.id = "reviewer";
    input.type = "text";
    input.maxLength = 100;
    if (lab.reviewer) {
      input.value = lab.reviewer;
      input.readOnly = true;
    } else {
      try {
        input.value = localStorage.getItem(REVIEWER_KEY) || "";
      } catch (e) {}
      input.placeholder = "your name (asked once)";
      input.addEventListener("change", function () {
        try {
          localStorage.setItem(REVIEWER_KEY, input.value.trim());
        } catch (e) {}
        load();
      });
    }
    who.appendChild(input);
    bar.appendChild(who);
    bar.appendChild(el("span", "label-mode", (lab.blind ? "Blind mode: a sample's verdicts stay hidden until you have labelled it. " : "Verdicts shown (--no-blind). ") + (lab.queue ? "Queue of " + lab.queue + " samples. " : "")));
    var helpBtn = el("button", null, "Keys (?)");
    bar.appendChild(helpBtn);
    var help = el("div", "help");
    help.id = "label-help";
    help.hidden = true;
    [
      ["h / n / u", "label the current sample harmful / not harmful / unsure"],
      ["t", "type a note for the current sample (Enter or Esc to finish; sent with the label)"],
      ["j / k", "next / previous sample (across pages)"],
      ["/", "search"],
      ["?", "show or hide this help"]
    ].forEach(function (k) {
      var p = el("p");
      p.appendChild(el("kbd", null, k[0]));
      p.appendChild(document.createTextNode("  " + k[1]));
      help.appendChild(p);
    });
    helpBtn.addEventListener("click", function () {
      help.hidden = !help.hidden;
    });
    bar.appendChild(help);
    var filtersBox = document.querySelector(".filters");
    filtersBox.parentNode.insertBefore(bar, filtersBox);
    if (lab.blind) {
      // Filtering by verdict would tell the verdicts.
      ["f-verdict", "f-awareness"].forEach(function (id) {
        var sel = document.getElementById(id);
        if (sel) sel.closest("label").hidden = true;
      });
    }
    list.addEventListener("click", function (e) {
      var c = e.target.closest && e.target.closest(".sample");
      if (!c) return;
      var i = Array.prototype.indexOf.call(cards(), c);
      if (i >= 0) setCurrent(i, false);
    });
  }

  function onKey(e) {
    var t = e.target;
    var typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT");
    if (typing) {
      if (e.key === "Escape" || (e.key === "Enter" && t.classList.contains("label-note"))) t.blur();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var c = cards()[current];
    var chosen = LABELS.filter(function (x) {
      return x[1] === e.key;
    })[0];
    if (chosen) {
      if (c) sendLabel(c, chosen[0]);
    } else if (e.key === "j") {
      move(1);
    } else if (e.key === "k") {
      move(-1);
    } else if (e.key === "t") {
      if (c) c.querySelector(".label-note").focus();
    } else if (e.key === "/") {
      search.focus();
    } else if (e.key === "?") {
      var help = document.getElementById("label-help");
      help.hidden = !help.hidden;
    } else {
      return;
    }
    e.preventDefault();
  }

  if (lab) {
    labellingBar();
    document.addEventListener("keydown", onKey);
  }

  if (!followHash()) load();
})();
