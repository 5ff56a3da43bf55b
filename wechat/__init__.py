"""Talking to WeChat (微信公众号): the webhook's logic, the one outbound client, the shared state, and a simulator.

Framework-free on purpose: the Rasa channel (`bot/channels/wechat.py`, Python 3.10) wraps `wechat.webhook`,
and the backend (Python 3.11) sends template messages through `wechat.client`.
"""
