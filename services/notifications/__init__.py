"""Notifications: the person hears of their case's steps, each once, by e-mail and
through the channel the case came in on.

    case events ──step consumer──▶ notification_outbox ──sender──▶ SMTP server
    on JetStream   (steps.py; its     (outbox.py)          (sender.py)  ptsp.outbound.<channel>
                   rows and position                          │
                   in one transaction)                        └─▶ the case records each
                                                                  delivery (recording.py)

The words are templates in Bahasa Indonesia (messages.py, templates/). `notifier.py`
puts the parts together in the pipeline process; `ptsp notifications list|resend` reads
and mends the outbox (outbox.py)."""
