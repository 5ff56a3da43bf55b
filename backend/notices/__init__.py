"""Notices to residents about their cases and queue tickets: what is written, when, and how it goes out.

A notice is written inside the transaction of the change it reports, so it exists exactly when the change committed,
and goes out later; one dedupe key per event means a replayed change never writes a second.

- `case_changes`: which notices a case's status change calls for (a WeChat notice, a document printed at the window,
  or both), written by `backend.services.cases.transition_case` in its own transaction.
- `outbox`: the WeChat notices as rows (``notifications``): written with a change, leased to a sender, their outcome
  recorded; also the 快到您了 notice of a queue ticket.
- `sender`: the background task in each backend worker that sends the outbox's due notices through WeChat.

The wording and template fields of each WeChat notice are WeChat's template format, in `wechat.templates`; printed
notices are print jobs (`backend.services.print_jobs`), laid out by the printer worker.
"""
