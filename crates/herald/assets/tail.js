// herald's live tail (/ui/tail): new events from /ui/tail/stream (server-sent events) at
// the top of the list, held while the pointer is over it. Written by hand; text only
// (textContent), never HTML.
(function () {
  "use strict";
  const body = document.getElementById("tail");
  const status = document.getElementById("tail-status");
  if (!body || !status || !window.EventSource) {
    return;
  }
  const table = document.getElementById("tail-table");
  const held = [];
  let paused = false;
  const url = "/ui/tail/stream?after=" + encodeURIComponent(body.dataset.after || "");
  const source = new EventSource(url);

  function show(text) {
    status.textContent = text;
  }

  function add(event) {
    const row = document.createElement("tr");
    for (const text of [event.received_at, event.source, event.event_type, event.dedup_key || ""]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.appendChild(cell);
    }
    const cell = document.createElement("td");
    const link = document.createElement("a");
    const code = document.createElement("code");
    link.href = "/ui/events/" + encodeURIComponent(event.id);
    code.textContent = event.id;
    link.appendChild(code);
    cell.appendChild(link);
    row.appendChild(cell);
    body.insertBefore(row, body.firstChild);
    while (body.children.length > 500) {
      body.removeChild(body.lastChild);
    }
  }

  source.addEventListener("event", function (message) {
    const event = JSON.parse(message.data);
    if (paused) {
      held.push(event);
      show("Paused: " + held.length + " new");
    } else {
      add(event);
    }
  });
  source.addEventListener("open", function () {
    show(paused ? "Paused" : "Live");
  });
  source.addEventListener("error", function () {
    show("Reconnecting…");
  });
  table.addEventListener("mouseenter", function () {
    paused = true;
    show("Paused");
  });
  table.addEventListener("mouseleave", function () {
    paused = false;
    held.splice(0).forEach(add);
    show("Live");
  });
  // Leaving the page (also by an htmx-boosted link) ends the stream.
  function close() {
    source.close();
  }
  window.addEventListener("pagehide", close);
  document.body.addEventListener("htmx:beforeRequest", close, { once: true });
})();
