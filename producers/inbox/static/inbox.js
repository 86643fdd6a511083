// Keeps the pending list current from the server's event stream (fed from Kafka).
// Text from records is only ever set with textContent: nothing in a record becomes markup.
"use strict";
(function () {
  const list = document.getElementById("pending");
  if (!list) return;
  const page = Number(list.dataset.page), pageSize = Number(list.dataset.pageSize), csrf = list.dataset.csrf;
  const total = document.getElementById("pending-total"), empty = document.getElementById("empty");
  const more = document.getElementById("more"), feedState = document.getElementById("feed-state");

  function el(tag, props, children) {
    const node = document.createElement(tag);
    Object.entries(props || {}).forEach(([k, v]) => {
      if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    });
    (children || []).forEach((c) => node.appendChild(c));
    return node;
  }

  function hidden(name, value) { return el("input", { type: "hidden", name: name, value: value }); }

  function row(item) {
    const waited = el("span", { class: "waited", "data-requested-at": item.requested_at, text: "requested " + item.requested_at });
    const form = el("form", { method: "post", action: "/decide", class: "decide" }, [
      hidden("csrf", csrf), hidden("approval_id", item.approval_id), hidden("page", String(page)),
      el("label", { text: "Comment " }, [el("textarea", { name: "comment", maxlength: "2000", rows: "2" })]),
      el("button", { type: "submit", name: "decision", value: "approved", class: "approve", text: "Approve" }),
      el("button", { type: "submit", name: "decision", value: "rejected", class: "reject", text: "Reject" }),
    ]);
    const li = el("li", { class: "approval", "data-approval-id": item.approval_id }, [
      el("div", { class: "meta" }, [
        el("span", { class: "pattern", text: item.pattern }), document.createTextNode(" request "),
        el("code", { class: "request-id", text: item.request_id }), document.createTextNode(" · "), waited,
      ]),
      el("pre", { class: "content", text: item.content }),
      el("p", { class: "reason" }, [el("b", { text: "Why a person decides:" }), document.createTextNode(" "),
        el("span", { class: "reason-text", text: item.reason })]),
      el("p", { class: "approval-id" }, [document.createTextNode("approval "), el("code", { text: item.approval_id })]),
      form,
    ]);
    return li;
  }

  function rows() { return Array.from(list.querySelectorAll("li.approval")); }
  // Oldest first, like the server renders it (approvals of different partitions arrive in any order).
  function place(item) {
    const later = rows().find((li) => li.querySelector(".waited").dataset.requestedAt > item.requested_at);
    list.insertBefore(row(item), later || null);
  }
  function find(id) { return rows().find((li) => li.dataset.approvalId === id); }

  function counts(n, pages) {
    total.textContent = String(n);
    empty.hidden = rows().length > 0;
    const later = n - (page - 1) * pageSize - rows().length;
    more.hidden = later <= 0;
    more.textContent = later > 0 ? later + " more on later pages" : "";
  }

  function ago(iso) {
    const t = Date.parse(iso);
    if (isNaN(t)) return "requested " + iso;
    const s = Math.max(0, Math.round((Date.now() - t) / 1000));
    if (s < 90) return "waiting " + s + " s";
    if (s < 5400) return "waiting " + Math.round(s / 60) + " min";
    if (s < 172800) return "waiting " + Math.round(s / 3600) + " h";
    return "waiting " + Math.round(s / 86400) + " days";
  }
  function tick() { list.querySelectorAll(".waited").forEach((w) => { w.textContent = ago(w.dataset.requestedAt); }); }

  const events = new EventSource("/events?page=" + page);
  events.addEventListener("snapshot", (e) => {
    const data = JSON.parse(e.data);
    const keep = new Set(data.items.map((i) => i.approval_id));
    rows().forEach((li) => { if (!keep.has(li.dataset.approvalId)) li.remove(); });
    data.items.forEach((item) => { if (!find(item.approval_id)) place(item); });
    counts(data.total, data.pages);
    tick();
  });
  events.addEventListener("added", (e) => {
    const data = JSON.parse(e.data);
    // Oldest first: a new approval belongs at the end, so only the page that ends the list shows it.
    if (!find(data.item.approval_id) && rows().length < pageSize && data.total <= page * pageSize) {
      place(data.item);
    }
    counts(data.total);
    tick();
  });
  events.addEventListener("removed", (e) => {
    const data = JSON.parse(e.data);
    const li = find(data.approval_id);
    if (li) li.remove();
    counts(data.total);
  });
  events.addEventListener("feed", (e) => {
    const data = JSON.parse(e.data);
    feedState.className = "feed " + (data.connected ? "ok" : "down");
    feedState.textContent = data.connected ? "Live: new approvals appear here as they arrive."
      : "Not connected to Kafka: the list may be stale; retrying.";
  });
  events.addEventListener("signed-out", () => { events.close(); window.location.assign("/login"); });
  tick();
  setInterval(tick, 30000);
})();
