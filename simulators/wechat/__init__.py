"""A WeChat simulator for development and tests: plays WeChat's servers against the webhook.

Parts:
- `wechat_server.WeChatServer` builds, signs (and in safe mode encrypts) the XML WeChat posts for a user
  message, posts it to the webhook with WeChat's 5-second timeout and retries, and reports what the user
  would see (`Delivery`).
- `api_standin.ApiStandIn` is a loopback stand-in for the WeChat HTTP API (``/cgi-bin/...``): access tokens,
  customer-service and template messages with WeChat's quota rules, the custom menu, media download, parametric
  QR codes (`qr_codes`), fault injection and a record of every call. The project's outbound client is pointed at
  it through WECHAT_API_BASE_URL.
- `server.create_app` serves both in one Sanic app, plus control routes (messages, scanning a QR code) and a
  phone-like chat page at ``/`` (`page.html`).
- ``python -m simulators.wechat`` runs that app (see `__main__`).

Nothing here talks to the real WeChat; the simulator exists so the whole channel can be exercised offline.
"""
