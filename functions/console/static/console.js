/* ringback operator console: polls GET /v1/console/data and draws it. No framework, no build. */
(function () {
  "use strict";
  var POLL_MS = 5000;
  var STATE_LABELS = { pending: "Pending", scheduled: "Scheduled", uploaded: "Uploaded", in_call: "In call" };
  var csrf = null;
  var timer = null;
  var lastSummary = "";
  var timelineTag = null; // the tag of the agents' timeline drawn (the server omits it while current)

  function $(id) { return document.getElementById(id); }

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) { return "–"; }
    var sign = seconds < 0 ? "-" : "";
    var s = Math.abs(seconds);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    if (h) { return sign + h + " h " + m + " min"; }
    if (m) { return sign + m + " min"; }
    return sign + s + " s";
  }

  function clock(iso) {
    if (!iso) { return "–"; }
    var d = new Date(iso);
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function fill(tbody, rows, empty, columns) {
    tbody.replaceChildren();
    if (!rows.length) {
      var tr = el("tr"), td = el("td", empty);
      td.colSpan = columns;
      tr.appendChild(td);
      tbody.appendChild(tr);
    }
    rows.forEach(function (row) { tbody.appendChild(row); });
  }

  function figures(dl, pairs) {
    dl.replaceChildren();
    pairs.forEach(function (pair) {
      dl.appendChild(el("dt", pair[0]));
      var dd = el("dd", pair[1]);
      if (pair[2]) { dd.className = pair[2]; }
      dl.appendChild(dd);
    });
  }

  function drawBoard(board) {
    var counts = $("board-counts");
    counts.replaceChildren();
    Object.keys(STATE_LABELS).forEach(function (state) {
      var li = el("li");
      li.appendChild(el("strong", board.counts[state]));
      li.appendChild(document.createTextNode(STATE_LABELS[state]));
      counts.appendChild(li);
    });
    var overdue = el("li", null, board.overdue ? "state-bad" : "");
    overdue.appendChild(el("strong", board.overdue));
    overdue.appendChild(document.createTextNode("Overdue"));
    counts.appendChild(overdue);
    var rows = board.rows.map(function (r) {
      var tr = el("tr", null, r.overdue ? "overdue" : "");
      tr.dataset.requestId = r.id;
      var state = el("td", STATE_LABELS[r.state] || r.state);
      if (r.overdue) { state.appendChild(document.createTextNode(" ")); state.appendChild(el("span", "Overdue", "badge")); }
      tr.appendChild(state);
      tr.appendChild(el("td", r.phone));
      tr.appendChild(el("td", duration(r.age_s)));
      tr.appendChild(el("td", clock(r.window_start) + "–" + clock(r.window_end)));
      tr.appendChild(el("td", duration(r.time_left_s)));
      tr.appendChild(el("td", r.source));
      tr.appendChild(el("td", Object.keys(r.utm).map(function (k) { return k + "=" + r.utm[k]; }).join(", ") || "–"));
      tr.appendChild(el("td", r.id.slice(0, 8)));
      return tr;
    });
    fill($("board").tBodies[0], rows, "No open callback requests.", 8);
    $("board-more").textContent = (board.rows_not_shown ? board.rows_not_shown + " more not shown" : "") +
      (board.partial ? (board.rows_not_shown ? "; " : "") + "more requests are open than were read: the counts are at least these" : "");
  }

  function drawLevel(level, chart) {
    var share = level.within_window_share === null ? "–" : Math.round(level.within_window_share * 100) + " %";
    var o = level.outcomes;
    figures($("sla"), [
      ["Requests today", level.requests],
      ["First attempt p50", duration(level.first_attempt_p50_s)],
      ["First attempt p90", duration(level.first_attempt_p90_s)],
      ["Called within the promised window", share + " (" + level.within_window + " of " + level.judged + ")"],
      ["Outcomes", "connected " + o.connected + ", missed " + o.missed + ", cancelled " + o.cancelled + ", expired " + o.expired]
    ]);
    $("sla-chart").innerHTML = chart; // server-drawn SVG, every text escaped by the server
  }

  function drawFunnel(funnel, chart) {
    $("funnel-chart").innerHTML = chart;
    var rows = funnel.sources.map(function (s) {
      var tr = el("tr");
      tr.appendChild(el("th", s.source));
      tr.firstChild.scope = "row";
      funnel.stages.forEach(function (k) { tr.appendChild(el("td", s[k])); });
      return tr;
    });
    fill($("funnel-sources").tBodies[0], rows, "No widget events in the last seven days.", 5);
  }

  function drawReceipts(receipts) {
    var rows = receipts.rejected.map(function (r) {
      var tr = el("tr");
      tr.dataset.entryId = r.entry_id;
      tr.appendChild(el("td", r.entry_id));
      tr.appendChild(el("td", r.queue_id + (r.file ? " (" + r.file + (r.line ? ", line " + r.line : "") + ")" : "")));
      tr.appendChild(el("td", r.reason));
      tr.appendChild(el("td", clock(r.at)));
      var td = el("td"), button = el("button", "Re-drive");
      button.type = "button";
      button.setAttribute("aria-label", "Re-drive member " + r.entry_id);
      button.addEventListener("click", function () { redrive(r.entry_id, button); });
      td.appendChild(button);
      tr.appendChild(td);
      return tr;
    });
    fill($("rejected").tBodies[0], rows, "No rejected members.", 5);
    var runs = receipts.runs.map(function (r) {
      var tr = el("tr");
      tr.appendChild(el("td", clock(r.started_at)));
      tr.appendChild(el("td", r.kind + " " + r.job));
      tr.appendChild(el("td", Object.keys(r.totals).map(function (k) { return k + " " + r.totals[k]; }).join(", ") || "nothing to do"));
      tr.appendChild(el("td", r.stopped || "–"));
      return tr;
    });
    fill($("runs").tBodies[0], runs, "No upload run yet.", 4);
  }

  function drawAgents(agents) {
    var rows = agents.map(function (a) {
      var tr = el("tr");
      tr.appendChild(el("td", (a.name || a.agent_id) + " (" + a.source + ")"));
      tr.appendChild(el("td", (a.status || "unknown") + (a.reason ? ": " + a.reason : "")));
      tr.appendChild(el("td", clock(a.since)));
      tr.appendChild(el("td", a.activity ? a.activity.state + " " + (a.activity.other || "") : "–"));
      return tr;
    });
    fill($("agents").tBodies[0], rows, "No agent events yet.", 4);
  }

  function drawTimeline(lines, chart) {
    $("agents-chart").innerHTML = chart; // server-drawn SVG, every text escaped by the server
    var rows = lines.map(function (line) {
      var tr = el("tr");
      tr.appendChild(el("th", (line.name || line.agent_id) + " (" + line.source + ")"));
      tr.firstChild.scope = "row";
      tr.appendChild(el("td", line.segments.map(function (s) {
        return s.status + " " + clock(s.from) + "–" + clock(s.to);
      }).join(", ") || "–"));
      return tr;
    });
    fill($("agent-timeline").tBodies[0], rows, "No agent status change today.", 2);
  }

  function drawHealth(health) {
    var w = health.webitel;
    var dead = Object.keys(health.dead_letters).map(function (k) {
      var v = health.dead_letters[k];
      return k + " " + (v === null ? "unknown" : v);
    }).join(", ") || "not configured";
    var anyDead = Object.keys(health.dead_letters).some(function (k) { return health.dead_letters[k]; });
    figures($("health"), [
      ["Webitel", w.state + " – " + w.detail, w.state === "reachable" ? "state-ok" : (w.state === "unreachable" ? "state-bad" : "")],
      ["Oldest waiting member", duration(health.oldest_pending_age_s)],
      ["Dead-letter queues (schedule and projection failures)", dead, anyDead ? "state-bad" : "state-ok"],
      ["Degraded routing answers today", health.routing_degraded_today === null ? "unknown (see the RoutingDegraded alarm)" : health.routing_degraded_today,
        health.routing_degraded_today === null ? "" : (health.routing_degraded_today ? "state-bad" : "state-ok")]
    ]);
  }

  function draw(data) {
    csrf = data.csrf;
    drawBoard(data.board);
    drawLevel(data.service_level, data.service_level_chart);
    drawFunnel(data.funnel, data.funnel_chart);
    drawReceipts(data.receipts);
    drawAgents(data.agents);
    if (data.agent_timeline !== null) {
      drawTimeline(data.agent_timeline, data.agent_timeline_chart);
      timelineTag = data.agent_timeline_tag;
    }
    drawHealth(data.health);
    $("updated").textContent = "Updated " + clock(data.generated_at) + " (" + data.timezone + " day)";
    var summary = data.board.total + " open callback requests, " + data.board.overdue + " overdue";
    if (summary !== lastSummary) { $("announce").textContent = summary; lastSummary = summary; }
  }

  function show(signedIn) {
    $("signin").hidden = signedIn;
    $("main").hidden = !signedIn;
    $("sign-out").hidden = !signedIn;
    if (!signedIn) {
      if (timer) { clearTimeout(timer); timer = null; }
      timelineTag = null;
      $("updated").textContent = "Signed out";
      $("credential").focus();
    }
  }

  function load() {
    var url = "/v1/console/data" + (timelineTag ? "?timeline=" + encodeURIComponent(timelineTag) : "");
    return fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (answer) {
      if (answer.status === 401) { show(false); return; }
      if (!answer.ok) { throw new Error("status " + answer.status); }
      return answer.json().then(function (data) {
        show(true);
        draw(data);
        schedule();
      });
    }).catch(function () {
      $("updated").textContent = "Cannot reach the console data; retrying";
      schedule();
    });
  }

  function schedule() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(load, POLL_MS);
  }

  function redrive(entryId, button) {
    button.disabled = true;
    fetch("/v1/console/redrive", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-console-csrf": csrf || "" },
      body: JSON.stringify({ entry_ids: [entryId] })
    }).then(function (answer) {
      return answer.json().then(function (body) {
        var result = answer.ok ? body.results[entryId] : (body.message || "refused");
        $("redrive-result").textContent = "Member " + entryId + ": " + result;
        load();
      });
    }).catch(function () {
      $("redrive-result").textContent = "Re-drive failed; try again";
      button.disabled = false;
    });
  }

  function signIn(event) {
    event.preventDefault();
    $("signin-error").textContent = "";
    fetch("/v1/console/session", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ credential: $("credential").value })
    }).then(function (answer) {
      if (!answer.ok) { $("signin-error").textContent = "That credential is not valid."; return; }
      $("credential").value = "";
      return load().then(function () { $("main").focus(); });
    });
  }

  function signOut() {
    fetch("/v1/console/session", { method: "DELETE", credentials: "same-origin" }).then(function () { show(false); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("signin-form").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", signOut);
    load();
  });
})();
