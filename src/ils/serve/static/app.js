// The ILS chat page: pick a model, chat with streaming output, rate answers or correct them.
// Plain browser JavaScript served by the app: no build step, no CDN.
"use strict";
const $ = (id) => document.getElementById(id);
const history = [];

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("key").value || localStorage.getItem("ils-key") || "";
  if (key) { h["Authorization"] = "Bearer " + key; localStorage.setItem("ils-key", key); }
  return h;
}

function status(text) { $("status").textContent = text; }

async function loadModels() {
  const r = await fetch("/v1/models", { headers: headers() });
  if (!r.ok) { status("models: " + (await r.json()).error.message); return; }
  const data = (await r.json()).data;
  $("model").innerHTML = "";
  for (const m of data) {
    const o = document.createElement("option");
    o.value = o.textContent = m.id;
    $("model").appendChild(o);
  }
  status("ready");
}

function addMessage(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  div.textContent = (role === "user" ? "you: " : "model: ") + text;
  $("log").appendChild(div);
  return div;
}

async function readStream(response, onDelta) {
  // OpenAI SSE: lines "data: {json}" separated by blank lines, ending with "data: [DONE]".
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "", id = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const line = buffer.slice(0, cut).trim();
      buffer = buffer.slice(cut + 2);
      if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
      const chunk = JSON.parse(line.slice(6));
      id = chunk.id;
      for (const c of chunk.choices) if (c.delta && c.delta.content) onDelta(c.delta.content);
    }
  }
  return id;
}

async function send(text) {
  history.push({ role: "user", content: text });
  addMessage("user", text);
  const div = addMessage("assistant", "");
  let answer = "";
  status("generating…");
  const r = await fetch("/v1/chat/completions", {
    method: "POST", headers: headers(),
    body: JSON.stringify({ model: $("model").value, messages: history, stream: true, temperature: 0 }),
  });
  if (!r.ok) { div.textContent = "error: " + (await r.json()).error.message; status("error"); return; }
  const id = await readStream(r, (d) => { answer += d; div.textContent = "model: " + answer; });
  history.push({ role: "assistant", content: answer });
  div.dataset.completionId = id;
  addRating(div, id);
  status("done");
}

function addRating(after, id) {
  const box = document.createElement("div");
  box.className = "rate";
  box.innerHTML = '<button class="good">👍</button> <button class="bad">👎</button> ' +
    '<textarea class="correction" rows="2" placeholder="a better answer (optional)"></textarea>' +
    '<input class="comment" placeholder="comment (optional)"> <button class="submit">Send feedback</button>' +
    ' <span class="sent"></span>';
  let rating = 0;
  box.querySelector(".good").onclick = () => { rating = 1; submit(); };
  box.querySelector(".bad").onclick = () => { rating = -1; };
  box.querySelector(".submit").onclick = () => submit();
  async function submit() {
    const correction = box.querySelector(".correction").value || null;
    const comment = box.querySelector(".comment").value || null;
    const r = await fetch("/v1/feedback", {
      method: "POST", headers: headers(),
      body: JSON.stringify({ completion_id: id, rating, correction, comment }),
    });
    const body = await r.json();
    box.querySelector(".sent").textContent = r.ok ? "saved #" + body.id : "error: " + body.error.message;
  }
  after.after(box);
}

$("form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("prompt").value.trim();
  if (!text) return;
  $("prompt").value = "";
  send(text);
});
$("key").addEventListener("change", loadModels);
$("key").value = localStorage.getItem("ils-key") || "";
loadModels();
