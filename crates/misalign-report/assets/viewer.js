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
    var v = verdictOf(s);
    var c = el("article", "sample " + v);
    c.dataset.verdict = v;
    c.id = anchorOf(s);
    var h = el("header");
    h.appendChild(el("span", "badge " + v, v));
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

  if (!followHash()) load();
})();
