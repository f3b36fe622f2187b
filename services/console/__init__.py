"""The staff console in the browser, under `/console/`: officers' queues, case pages
with a form for each step they may take, the SLA board, the escalation queue, reports
in Bahasa Indonesia (printable, PDF, CSV), the head's approvals, calendar and staff
register, and the auditors' view of a case's hash-linked history. Served by the same
application as the API (`services.http.app`), through the same services and policy."""
