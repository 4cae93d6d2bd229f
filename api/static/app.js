// The review pages' behaviour: transcript <-> scorecard <-> audio, review and appeal actions,
// keyboard shortcuts. No framework and nothing fetched from outside this server.
(function () {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const typing = (e) => ["INPUT", "TEXTAREA", "SELECT"].includes(e.target.tagName) || e.target.isContentEditable;

  // help overlay
  const help = $("#help");
  $$("[data-help]").forEach((b) => b.addEventListener("click", () => help?.showModal()));

  // review queue: rows open their conversation; j / k / Enter
  const rows = $$("table.queue tbody tr");
  let current = -1;
  function select(i) {
    if (!rows.length) return;
    current = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach((r, k) => r.classList.toggle("selected", k === current));
    rows[current].scrollIntoView({ block: "nearest" });
  }
  rows.forEach((r) => r.addEventListener("click", (e) => { if (e.target.tagName !== "A") location.href = r.dataset.href; }));

  // conversation page
  const player = $("#player");
  const turns = $$(".turn[data-turn]");
  const items = $$(".item[data-item]");
  const head = $(".conv-head");
  const status = $(".scorecard .status");
  let selected = -1;

  function light(indexes) {
    turns.forEach((t) => t.classList.toggle("lit", indexes.includes(Number(t.dataset.turn))));
    const first = turns.find((t) => indexes.includes(Number(t.dataset.turn)));
    if (first) { first.scrollIntoView({ behavior: "smooth", block: "center" }); first.focus({ preventScroll: true }); }
  }
  function pick(i) {
    if (!items.length) return;
    selected = Math.max(0, Math.min(items.length - 1, i));
    items.forEach((it, k) => it.classList.toggle("selected", k === selected));
    const ids = (items[selected].dataset.turns || "").split(",").filter(Boolean).map(Number);
    light(ids);
  }
  items.forEach((it, k) => {
    it.addEventListener("click", (e) => { if (!e.target.closest("button, input, a")) pick(k); });
    it.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.target === it) pick(k); });
  });
  $$("[data-goto]").forEach((a) => a.addEventListener("click", (e) => { e.preventDefault(); light([Number(a.dataset.goto)]); }));

  function seek(seconds) {
    if (!player || Number.isNaN(seconds)) return;
    player.currentTime = seconds;
    player.play().catch(() => {});
  }
  turns.forEach((t) => t.addEventListener("click", (e) => {
    if (e.target.closest("a, button") && !e.target.dataset.seek) return;
    if (t.dataset.start !== undefined) seek(Number(t.dataset.start));
  }));
  if (player) {
    const starts = turns.filter((t) => t.dataset.start !== undefined);
    player.addEventListener("timeupdate", () => {
      const now = player.currentTime;
      let playing = null;
      for (const t of starts) { if (Number(t.dataset.start) <= now + 0.05) playing = t; }
      starts.forEach((t) => t.classList.toggle("playing", t === playing));
    });
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error((data.error && (data.error.detail || data.error.error)) || "保存失败");
    return data;
  }
  function say(text, error) { if (status) { status.textContent = text; status.classList.toggle("error", !!error); } }

  async function decide(item, action) {
    const id = item.dataset.item;
    const verdict = item.querySelector("[data-verdict]").textContent.trim();
    const comment = (item.querySelector("input.comment")?.value || "").trim();
    const current = item.className.match(/verdict-(\w+)/)?.[1];
    // "review" is a deduction waiting for a person: confirming keeps it (fail), overturning lifts it
    let target = current === "pass" ? "pass" : "fail";
    if (action === "overturn") {
      if (!comment) { say("推翻判定请先填写复核意见。", true); item.querySelector("input.comment")?.focus(); return; }
      target = current === "pass" ? "fail" : "pass";
    }
    try {
      const data = await post(`/ui/conversations/${encodeURIComponent(head.dataset.conversation)}/review`,
        { items: { [id]: { verdict: target, comment } }, comment });
      $("#qi").textContent = data.quality_index;
      $("#grade").textContent = data.grade;
      const label = { pass: "通过", fail: "不通过", na: "不适用" }[target];
      item.querySelector("[data-verdict]").textContent = label;
      item.className = item.className.replace(/verdict-\w+/, `verdict-${target}`);
      item.querySelector("[data-verdict]").className = `badge v-${target}`;
      item.setAttribute("aria-label", `${item.querySelector(".name").textContent.trim()} ${label}`);
      say(`已保存：${verdict} → ${label}，质检分 ${data.quality_index}`);
    } catch (err) { say(err.message, true); }
  }
  async function appeal(item) {
    const reason = (item.querySelector("input.reason")?.value || "").trim();
    if (!reason) { say("请填写申诉理由。", true); return; }
    try {
      const data = await post(`/ui/conversations/${encodeURIComponent(head.dataset.conversation)}/appeals`,
        { item: item.dataset.item, reason });
      item.querySelector("input.reason").closest(".actions").remove();
      say(`已提交申诉（${data.state}）`);
    } catch (err) { say(err.message, true); }
  }
  items.forEach((item) => {
    item.querySelector('[data-action="confirm"]')?.addEventListener("click", () => decide(item, "confirm"));
    item.querySelector('[data-action="overturn"]')?.addEventListener("click", () => decide(item, "overturn"));
    item.querySelector('[data-action="appeal"]')?.addEventListener("click", () => appeal(item));
  });

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e)) return;
    if (e.key === "?") { e.preventDefault(); help?.open ? help.close() : help?.showModal(); return; }
    if (rows.length) {
      if (e.key === "j") { select(current + 1); e.preventDefault(); }
      else if (e.key === "k") { select(current - 1); e.preventDefault(); }
      else if (e.key === "Enter" && current >= 0) { location.href = rows[current].dataset.href; }
      return;
    }
    if (!head) return;
    const go = (id) => { if (id) location.href = `/conversations/${encodeURIComponent(id)}`; };
    if (e.key === "j") go(head.dataset.next);
    else if (e.key === "k") go(head.dataset.prev);
    else if (e.key === "n") pick(selected + 1);
    else if (e.key === "p") pick(selected - 1);
    else if (e.key === "c" && selected >= 0) decide(items[selected], "confirm");
    else if (e.key === "o" && selected >= 0) decide(items[selected], "overturn");
    else if (e.key === " " && player && !e.target.closest("button, a, summary, audio")) {
      e.preventDefault(); player.paused ? player.play() : player.pause();
    }
  });
})();
