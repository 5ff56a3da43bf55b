"""The simulator as one Sanic app: the API stand-in, message controls and a phone-like chat page for development."""

from __future__ import annotations

import base64
import binascii
import functools
import json
from pathlib import Path
from typing import Any

from sanic import Request, Sanic
from sanic.response import HTTPResponse, html
from sanic.response import json as json_response

from wechat.settings import WeChatSettings
from wechat.simulator.api_standin import ApiStandIn
from wechat.simulator.wechat_server import Delivery, WeChatServer

_dumps = functools.partial(json.dumps, ensure_ascii=False)  # keep Chinese readable in responses and logs
MESSAGE_TYPES = ("text", "voice", "image", "event")
VOICE_FORMATS = ("amr", "speex")
"""The Format of WeChat's voice notes."""
MAX_VOICE_BYTES = 2 * 1024 * 1024
"""WeChat's limit for a voice file."""


def create_app(
    settings: WeChatSettings,
    webhook_url: str,
    record_path: Path | None = None,
    *,
    name: str = "wechat_simulator",
    timeout_s: float = 5.0,
) -> Sanic:
    """The stand-in and the simulated WeChat servers, sharing media and the customer-service quota."""
    app = Sanic(name)
    standin = ApiStandIn(settings, record_path)
    wechat = WeChatServer(
        webhook_url, settings, timeout_s=timeout_s, on_inbound=standin.grant, media_store=standin.media_store
    )
    app.ctx.standin = standin
    app.ctx.wechat = wechat
    standin.add_routes(app)

    @app.get("/health")
    async def health(request: Request) -> HTTPResponse:
        return json_response({"status": "ok"})

    @app.get("/")
    async def page(request: Request) -> HTTPResponse:
        return html(PAGE)

    @app.post("/simulator/messages")
    async def messages(request: Request) -> HTTPResponse:
        try:
            body = json.loads(request.body or b"")
        except ValueError:
            body = None
        if not isinstance(body, dict) or not body.get("openid") or body.get("type") not in MESSAGE_TYPES:
            return json_response({"error": f"expected {{openid, type: {'|'.join(MESSAGE_TYPES)}, ...}}"}, 400)
        try:
            delivery = await deliver(wechat, body)
        except (TypeError, ValueError) as exc:
            return json_response({"error": str(exc)}, 400, dumps=_dumps)
        return json_response(delivery.to_dict(), dumps=_dumps)

    return app


async def deliver(wechat: WeChatServer, body: dict[str, Any]) -> Delivery:
    """One message from a `/simulator/messages` request body.

    A voice note: ``recognition`` is WeChat's text (absent or null: recognition off, no Recognition element);
    ``audio`` is the note itself, base64-encoded, which the API stand-in then serves at ``/media/get`` under the
    message's MediaId; ``format`` is ``amr`` (the default) or ``speex``.
    """
    openid = str(body["openid"])
    kind = body["type"]
    if kind == "text":
        return await wechat.send_text(openid, str(body.get("content") or ""))
    if kind == "voice":
        recognition = body.get("recognition", body.get("content"))
        media_format = body.get("format") or "amr"
        if media_format not in VOICE_FORMATS:
            raise ValueError(f"format must be one of {VOICE_FORMATS}, got {media_format!r}")
        return await wechat.send_voice(
            openid,
            recognition=None if recognition is None else str(recognition),
            media=_voice_media(body.get("audio")),
            media_format=media_format,
        )
    if kind == "image":
        return await wechat.send_image(openid)
    return await wechat.send_event(openid, str(body.get("event") or ""), body.get("key") or None)


def _voice_media(audio: Any) -> bytes:
    """The note's bytes from the base64 ``audio`` field (none: an empty file, as before notes carried audio)."""
    if audio is None:
        return b""
    if not isinstance(audio, str):
        raise ValueError("audio must be the voice note's bytes in base64")
    try:
        media = base64.b64decode(audio, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"audio is not valid base64 ({exc})") from None
    if len(media) > MAX_VOICE_BYTES:
        raise ValueError(f"a voice note is at most {MAX_VOICE_BYTES} bytes, got {len(media)}")
    return media


PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>微信模拟器 · 就近办助手</title>
<style>
  * { box-sizing: border-box; }
  body { margin: 0; background: #d9d9d9; font: 17px/1.5 -apple-system, "PingFang SC", "Microsoft YaHei", sans-serif; }
  .phone { max-width: 420px; height: 100vh; margin: 0 auto; background: #ededed;
           display: flex; flex-direction: column; }
  header { background: #ededed; border-bottom: 1px solid #d6d6d6; padding: 10px 12px; text-align: center; }
  header b { display: block; }
  header small { color: #888; }
  #openid { width: 60%; border: none; background: transparent; color: #888; text-align: center; font-size: 12px; }
  #chat { flex: 1; overflow-y: auto; padding: 12px; }
  .row { display: flex; margin: 10px 0; }
  .row.me { justify-content: flex-end; }
  .bubble { max-width: 78%; padding: 9px 12px; border-radius: 6px; white-space: pre-wrap; word-break: break-word; }
  .me .bubble { background: #95ec69; }
  .bot .bubble { background: #fff; }
  .meta { display: block; font-size: 12px; color: #999; margin-top: 3px; }
  .note { text-align: center; font-size: 13px; color: #999; margin: 8px 0; }
  .fail .bubble { background: #fff3f3; color: #c0392b; }
  .card { background: #fff; border-radius: 6px; padding: 10px 12px; max-width: 85%; }
  .card div { font-size: 15px; color: #555; }
  #menu { display: flex; border-top: 1px solid #d6d6d6; background: #f7f7f7; position: relative; }
  #menu > button { flex: 1; border: none; border-left: 1px solid #e0e0e0; background: none;
                   padding: 12px 4px; font-size: 16px; }
  .popup { position: absolute; bottom: 100%; min-width: 30%;
           background: #fff; border: 1px solid #ddd; border-radius: 6px; }
  .popup button { display: block; width: 100%; border: none; border-bottom: 1px solid #eee;
                  background: none; padding: 10px; font-size: 15px; }
  form { display: flex; gap: 6px; padding: 8px; background: #f7f7f7; border-top: 1px solid #e0e0e0; }
  #text { flex: 1; min-width: 0; font-size: 17px; padding: 8px; border: 1px solid #ddd; border-radius: 4px; }
  form button { font-size: 15px; padding: 0 10px; border: none; border-radius: 4px; background: #07c160; color: #fff;
                flex: none; white-space: nowrap; }
  form button.plain { background: #fff; color: #333; border: 1px solid #ddd; }
</style>
</head>
<body>
<div class="phone">
  <header><b>就近办助手</b><small>微信模拟器 · OpenID</small><br><input id="openid" aria-label="OpenID"></header>
  <div id="chat" aria-live="polite"></div>
  <nav id="menu"></nav>
  <form id="form">
    <input id="text" autocomplete="off" placeholder="输入要发送的内容">
    <button type="submit">发送</button>
    <button type="button" class="plain" id="voice" title="把框里的文字当作语音识别结果发送">语音</button>
    <button type="button" class="plain" id="voiceFile" title="发送录音文件，不带微信的识别结果">录音</button>
    <input type="file" id="audioFile" accept=".amr,.spx,.ogg,.mp3,.wav,audio/*" hidden>
    <button type="button" class="plain" id="follow">关注</button>
  </form>
</div>
<script>
const UNAVAILABLE = "该公众号暂时无法提供服务，请稍后再试";
const DEFAULT_MENU = [
  {type: "click", name: "医保社保", key: "DEPT_medical_insurance"},
  {type: "click", name: "办事指南", key: "ALL_ITEMS"},
  {type: "click", name: "查进度", key: "PROGRESS"},
  {type: "click", name: "取号", key: "TAKE_NUMBER"},
];
const ERRORS = {"-1": "系统繁忙", 40001: "access_token 无效", 45002: "内容超长", 45015: "已超过 48 小时",
                45047: "已超过 5 条上限", 40003: "OpenID 无效", 40037: "模板 ID 无效"};
const chat = document.getElementById("chat");
const openidBox = document.getElementById("openid");
const textBox = document.getElementById("text");
let since = 0;
let menuJson = "";

function randomOpenid() {
  const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
  let id = "oSim";
  for (let i = 0; i < 24; i++) id += chars[Math.floor(Math.random() * chars.length)];
  return id;
}
openidBox.value = localStorage.getItem("simOpenid") || randomOpenid();
localStorage.setItem("simOpenid", openidBox.value);
openidBox.addEventListener("change", () => {
  localStorage.setItem("simOpenid", openidBox.value);
  since = 0;
  chat.textContent = "";
});

function add(who, text, meta, extraClass) {
  const row = document.createElement("div");
  row.className = "row " + who + (extraClass ? " " + extraClass : "");
  const bubble = document.createElement("div");
  bubble.className = "bubble";
  bubble.textContent = text;
  if (meta) {
    const m = document.createElement("span");
    m.className = "meta";
    m.textContent = meta;
    bubble.appendChild(m);
  }
  row.appendChild(bubble);
  chat.appendChild(row);
  chat.scrollTop = chat.scrollHeight;
}
function note(text) {
  const div = document.createElement("div");
  div.className = "note";
  div.textContent = text;
  chat.appendChild(div);
  chat.scrollTop = chat.scrollHeight;
}

async function send(payload, label) {
  if (label) add("me", label);
  try {
    const response = await fetch("/simulator/messages", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify(Object.assign({openid: openidBox.value}, payload)),
    });
    const d = await response.json();
    if (!response.ok) { note("发送失败：" + d.error); return; }
    const tries = d.attempts.length;
    if (!d.delivered || d.shown_to_user === UNAVAILABLE) {
      add("bot", UNAVAILABLE, tries + " 次推送均未成功：" + (d.attempts[tries - 1].error || ""), "fail");
    } else if (d.shown_to_user) {
      const retried = tries > 1 ? " · 第 " + tries + " 次推送" : "";
      add("bot", d.shown_to_user, "被动回复 · " + d.first_reply_s.toFixed(2) + " 秒" + retried);
    } else {
      note("（公众号未被动回复，" + d.first_reply_s.toFixed(2) + " 秒）");
    }
  } catch (err) { note("模拟器无法连接：" + err); }
}

function showCall(call) {
  const body = call.body || {};
  const what = call.api === "template_send" ? "模板消息" : "客服消息";
  if (call.errcode !== 0) {
    note(what + "未送达：" + call.errcode + " " + (ERRORS[call.errcode] || ""));
  } else if (call.api === "custom_send") {
    const type = body.msgtype;
    let text = "[" + type + "]";
    if (type === "text") text = body.text.content;
    else if (type === "news") text = (body.news.articles || []).map(a => "[图文] " + a.title).join("\\n");
    add("bot", text, "客服消息");
  } else if (call.api === "template_send") {
    const card = document.createElement("div");
    card.className = "row bot";
    const inner = document.createElement("div");
    inner.className = "card";
    const title = document.createElement("b");
    title.textContent = "模板消息 · " + body.template_id;
    inner.appendChild(title);
    for (const [key, item] of Object.entries(body.data || {})) {
      const line = document.createElement("div");
      line.textContent = key + "：" + (item && item.value !== undefined ? item.value : item);
      inner.appendChild(line);
    }
    card.appendChild(inner);
    chat.appendChild(card);
    chat.scrollTop = chat.scrollHeight;
  }
}

async function poll() {
  try {
    const url = "/simulator/outbound?openid=" + encodeURIComponent(openidBox.value) + "&since=" + since;
    const d = await (await fetch(url)).json();
    d.calls.filter(c => c.api === "custom_send" || c.api === "template_send").forEach(showCall);
    since = d.next;
  } catch (err) { /* the simulator restarts: try again next second */ }
}

function leaf(button) {
  if (button.type === "view") send({type: "event", event: "VIEW", key: button.url}, "〔打开网页〕" + button.name);
  else send({type: "event", event: "CLICK", key: button.key}, "〔菜单〕" + button.name);
}
function renderMenu(buttons) {
  const nav = document.getElementById("menu");
  nav.textContent = "";
  buttons.forEach((button, i) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = button.name;
    const subs = button.sub_button && (button.sub_button.list || button.sub_button);
    if (subs && subs.length) {
      b.textContent = "≡ " + button.name;
      b.onclick = () => {
        const open = nav.querySelector(".popup");
        if (open) { open.remove(); if (open.dataset.index === String(i)) return; }
        const popup = document.createElement("div");
        popup.className = "popup";
        popup.dataset.index = String(i);
        popup.style.left = (i * 100 / buttons.length) + "%";
        subs.forEach(sub => {
          const s = document.createElement("button");
          s.type = "button";
          s.textContent = sub.name;
          s.onclick = () => { popup.remove(); leaf(sub); };
          popup.appendChild(s);
        });
        nav.appendChild(popup);
      };
    } else {
      b.onclick = () => leaf(button);
    }
    nav.appendChild(b);
  });
}
async function loadMenu() {
  try {
    const d = await (await fetch("/simulator/menu")).json();
    const buttons = d.menu ? d.menu.button : DEFAULT_MENU;
    const json = JSON.stringify(buttons);
    if (json !== menuJson) { menuJson = json; renderMenu(buttons); }
  } catch (err) { if (!menuJson) { menuJson = "default"; renderMenu(DEFAULT_MENU); } }
}

document.getElementById("form").addEventListener("submit", event => {
  event.preventDefault();
  const text = textBox.value.trim();
  if (!text) return;
  textBox.value = "";
  send({type: "text", content: text}, text);
});
document.getElementById("voice").addEventListener("click", () => {
  const text = textBox.value.trim();
  textBox.value = "";
  send({type: "voice", recognition: text}, "🎤 语音" + (text ? "：" + text : "（未识别出文字）"));
});
// A voice note without WeChat's recognition: the file goes to the API stand-in, and jiujin recognises it itself.
const audioBox = document.getElementById("audioFile");
document.getElementById("voiceFile").addEventListener("click", () => audioBox.click());
audioBox.addEventListener("change", async () => {
  const file = audioBox.files[0];
  audioBox.value = "";
  if (!file) return;
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  const format = /\\.(spx|ogg)$/i.test(file.name) ? "speex" : "amr";
  send({type: "voice", audio: btoa(binary), format: format}, "🎤 语音（" + file.name + "，无识别文字）");
});
document.getElementById("follow").addEventListener("click", () => {
  send({type: "event", event: "subscribe"}, "〔关注公众号〕");
});

loadMenu();
setInterval(loadMenu, 5000);
setInterval(poll, 1000);
poll();
</script>
</body>
</html>
"""
