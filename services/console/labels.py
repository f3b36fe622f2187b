"""What the console calls each wire name: statuses, tiers, roles, channels, steps, fields,
event types and refusal rules, as messages for the catalog (English here; the Indonesian
is in `locale/id/LC_MESSAGES/console.po`).

The wire names themselves are `contracts/vocabulary.py`'s and the command tables'; this
module only names them for people. `tests/unit/test_console_i18n.py` fails when a value
of the vocabulary, a command, a field of a command's request or an event type has no
label here.
"""

from __future__ import annotations

import re

from services.console.i18n import N_

VOCABULARY: dict[str, dict[str, str]] = {
    "role": {
        "channel": N_("Channel service"), "officer": N_("Officer"),
        "supervisor": N_("Supervisor"), "head": N_("Head of office"),
        "auditor": N_("Auditor"), "system": N_("The system"),
    },
    "tier": {
        "pelaksana": N_("Staff officer (pelaksana)"),
        "kepala_seksi": N_("Head of section (kepala seksi)"),
        "kepala_bidang": N_("Head of division (kepala bidang)"),
        "kepala_dinas": N_("Head of office (kepala dinas)"),
    },
    "unit": {"perizinan": N_("Licensing"), "pengaduan": N_("Complaints")},
    "channel": {
        "oss": N_("OSS"), "officer": N_("Officer (in person)"),
        "mpp_counter": N_("MPP counter"), "letter": N_("Letter"), "phone": N_("Telephone"),
        "sms": N_("SMS"), "whatsapp": N_("WhatsApp"), "email": N_("E-mail"),
        "twitter": N_("Twitter"), "instagram": N_("Instagram"),
        "web_dpmptsp": N_("DPMPTSP website"), "web_mpp": N_("MPP website"),
        "form": N_("Complaint form"), "complaint_box": N_("Complaint box"),
    },
    "case_type": {"application": N_("Application"), "complaint": N_("Complaint")},
    "kind": {"complaint": N_("Complaint"), "suggestion": N_("Suggestion")},
    "status": {
        "awaiting_verification": N_("Awaiting verification"),
        "returned_for_correction": N_("Returned for correction"),
        "complete": N_("File complete"), "reviewed": N_("Technically reviewed"),
        "approved": N_("Approved"), "rejected": N_("Rejected"), "issued": N_("Issued"),
        "withdrawn": N_("Withdrawn"), "received": N_("Received"),
        "classified": N_("Classified"), "analysed": N_("Analysed"),
        "in_resolution": N_("Being resolved"), "answered": N_("Answered"),
        "closed": N_("Closed"),
    },
    "sla_state": {
        "not_started": N_("Not started"), "running": N_("Running"),
        "at_risk": N_("At risk"), "paused": N_("Paused"), "met": N_("Met"),
        "breached": N_("Breached"), "withdrawn": N_("Withdrawn"),
    },
    "problem_type": {
        "requirements": N_("Requirements"), "procedure": N_("Procedure"),
        "time": N_("Time to complete"), "fee": N_("Fee"), "product": N_("Service product"),
        "facilities": N_("Facilities"), "competence": N_("Staff competence"),
        "other": N_("Other"), "unclassified": N_("Not yet classified"),
    },
    "handling_plan": {
        "clarification": N_("Clarification"), "confirmation": N_("Confirmation"),
        "examination": N_("Examination"), "investigation": N_("Investigation"),
    },
    "track": {
        "internal": N_("Internal"), "technical_team": N_("Technical team"),
        "apip": N_("APIP (Inspectorate)"), "none": N_("No track yet"),
    },
    "verdict": {"approve": N_("Approve"), "reject": N_("Reject")},
    "scale": {"mikro": N_("Micro"), "kecil": N_("Small"), "menengah": N_("Medium"),
              "besar": N_("Large")},
    "suggestion_reason": {
        "late": N_("Late (over 30 days)"), "no_identity": N_("No identity"),
        "no_subject_matter": N_("No subject matter"),
    },
    "day_kind": {"holiday": N_("Day off"), "working_day": N_("Working day")},
    "finding": {"proven": N_("Proven"), "not_proven": N_("Not proven"),
                "partly_proven": N_("Partly proven")},
    "boolean": {"true": N_("Yes"), "false": N_("No")},
}
"""Each fixed list's values, by the list's name."""

COMMANDS: dict[str, str] = {
    "verification": N_("Verify the file"),
    "resubmission": N_("Resubmit the file"),
    "withdrawal": N_("Withdraw the application"),
    "return": N_("Return the file for correction"),
    "technical-review": N_("Record the technical review"),
    "decision": N_("Decide"),
    "issuance": N_("Issue the NIB and certificate"),
    "certificate-revocation": N_("Revoke the certificate"),
    "assignment": N_("Assign to an officer"),
    "escalation": N_("Escalate to a higher tier"),
    "reclassification": N_("Treat the suggestion as a complaint"),
    "classification": N_("Classify"),
    "analysis": N_("Record the analysis"),
    "findings": N_("Record the findings"),
    "apip-approval": N_("Approve involving APIP"),
    "track": N_("Choose the resolution track"),
    "response": N_("Answer the complainant"),
    "complainant-notification": N_("Record that the complainant was told"),
    "superior-report": N_("Report to the direct superior"),
    "closure": N_("Close the case"),
    "erasure": N_("Erase personal data"),
    "confidentiality": N_("Keep the complainant's identity confidential"),
    "audit-hold": N_("Place an audit hold"),
    "audit-hold-release": N_("Release the audit hold"),
    "breach-escalation": N_("Automatic escalation"),
}
"""Each step of a case (a command table's row name) as its button says it."""

FIELDS: dict[str, str] = {
    "results": N_("Requirements checklist (tick each one met)"),
    "note": N_("Note"),
    "reason": N_("Reason"),
    "unmet": N_("Requirements to correct"),
    "recommendation": N_("Recommendation"),
    "outcome": N_("Outcome"),
    "officer": N_("Officer"),
    "to_tier": N_("To tier"),
    "service_code": N_("Service"),
    "problem_type": N_("Problem type"),
    "concerns_head": N_("The complaint concerns the head of office"),
    "core_problem": N_("Core problem"),
    "standard_refs": N_("Standard, SOP or regulation references (one per line)"),
    "documents_checked": N_("Documents checked (one per line)"),
    "handling_plan": N_("Handling plan"),
    "authority": N_("Approving authority"),
    "track": N_("Track"),
    "agencies": N_("Agencies involved (one per line)"),
    "text": N_("Text"),
    "channel": N_("Channel"),
    "actions": N_("Actions carried out (one per line)"),
    "consulted": N_("Parties consulted (one per line)"),
    "date": N_("Date"),
    "kind": N_("Kind"),
    "actor": N_("User ID"),
    "password": N_("Password"),
    "name": N_("Name"),
    "role": N_("Role"),
    "unit": N_("Unit"),
    "tier": N_("Tier"),
    "nik": N_("NIK"),
    "email": N_("E-mail"),
    "phone": N_("Telephone"),
    "address": N_("Address"),
    "kbli": N_("KBLI"),
    "scale": N_("Business scale"),
    "in_industrial_estate": N_("In an industrial estate"),
    "nib": N_("NIB"),
    "exceptions": N_("Legal ground for a requirement met otherwise"),
    "applicant": N_("Applicant"),
    "complainant": N_("Complainant"),
    "business": N_("Business"),
    "subject_matter": N_("Subject matter"),
    "description": N_("Description"),
    "service_received_on": N_("Service received on"),
    "received_at": N_("Received"),
    "reasons": N_("Why a suggestion"),
    "related_application_id": N_("Related application"),
    "certificate": N_("Certificate"),
    "from_tier": N_("From tier"),
    "automatic": N_("Automatic"),
    "hold_reason": N_("Reason for the hold"),
    "rule": N_("Rule"),
    "procedure_classification": N_("Procedure classification"),
    "nib_source": N_("NIB source"),
    "as_of": N_("As of"),
}
"""Each field of a step's request (and of the console's own forms) as its label says it."""

EVENTS: dict[str, str] = {
    "submitted": N_("Application submitted"),
    "file_declared_complete": N_("File declared complete: the clock starts"),
    "file_returned_for_correction": N_("File returned for correction"),
    "resubmitted": N_("Corrected file resubmitted"),
    "technically_reviewed": N_("Technical review recorded"),
    "decided": N_("Decision recorded"),
    "certificate_issued": N_("NIB and certificate issued"),
    "certificate_revoked": N_("Certificate revoked"),
    "withdrawn": N_("Application withdrawn"),
    "received": N_("Complaint received"),
    "reclassified": N_("Suggestion treated as a complaint"),
    "classified": N_("Classified"),
    "analysed": N_("Analysis recorded"),
    "findings_recorded": N_("Findings recorded"),
    "apip_involvement_approved": N_("APIP involvement approved"),
    "track_chosen": N_("Resolution track chosen"),
    "responded": N_("Complainant answered"),
    "complainant_notified": N_("Complainant told"),
    "reported_to_superior": N_("Reported to the direct superior"),
    "closed": N_("Case closed"),
    "assigned": N_("Assigned"),
    "escalated": N_("Escalated"),
    "audit_hold_placed": N_("Audit hold placed"),
    "audit_hold_released": N_("Audit hold released"),
    "personal_data_erased": N_("Personal data erased"),
    "erasure_refused": N_("Erasure refused"),
    "confidentiality_marked": N_("Identity made confidential"),
    "notification_delivered": N_("Message delivered to the person"),
}
"""Each event type (the contract tag after the case type) as the timeline says it."""

RULES: dict[str, str] = {
    "case_closed": N_("The case is closed: no further step is possible."),
    "concurrent_write_lost": N_("Someone else changed the case at the same moment. "
                                "The page shows it as it now stands; try again."),
    "escalation_must_move_up": N_("An escalation must go to a higher tier."),
    "tier_skip_needs_supervisor": N_("Skipping a tier needs a supervisor or the head."),
    "breach_already_escalated": N_("This breach was already escalated."),
    "top_tier": N_("The case is already at the top tier."),
    "issuance_requires_approval": N_("The certificate can only be issued once approved."),
    "already_revoked": N_("The certificate is already revoked."),
    "approved_cannot_be_withdrawn": N_("An approved application cannot be withdrawn."),
    "already_a_complaint": N_("It is already a complaint."),
    "reclassification_only_when_only_late":
        N_("Only a suggestion that is late and nothing else may become a complaint."),
    "not_a_complaint": N_("This step is for complaints, not suggestions."),
    "analysis_requires_classification": N_("Classify the complaint first."),
    "apip_approval_requires_analysis": N_("Record the analysis first."),
    "apip_already_approved": N_("APIP involvement is already approved."),
    "track_requires_analysis": N_("Record the analysis first."),
    "apip_requires_head_approval": N_("The APIP track needs the head's approval first."),
    "track_unchanged": N_("That is already the track."),
    "already_answered": N_("The complainant was already answered."),
    "response_requires_track": N_("Choose the resolution track first."),
    "notification_requires_response": N_("Answer the complainant first."),
    "superior_report_requires_response": N_("Answer the complainant first."),
    "closure_requires_response": N_("Answer the complainant first."),
    "closure_requires_notification": N_("Record that the complainant was told first."),
    "findings_required": N_("Record the findings first."),
    "findings_requires_analysis": N_("Record the analysis first."),
    "findings_already_recorded": N_("The findings are already recorded."),
    "apip_approval_requires_head": N_("Only the head may approve involving APIP (for a "
                                      "complaint about the head: a supervisor or an "
                                      "auditor, naming the authority)."),
    "officer_not_assignable": N_("Only a registered, active officer of the case's unit, at "
                                 "its tier or above, can be assigned."),
    "scale_not_small_or_medium": N_("The business is not small or medium: this requirement "
                                    "cannot be marked as met."),
    "not_in_industrial_estate": N_("The business is not in an industrial estate: state the "
                                   "legal ground under which it may be located outside one."),
    "superior_report_required": N_("Report to the direct superior first."),
    "head_cannot_approve_own_case": N_("The head cannot approve a case about themselves."),
    "audit_hold": N_("The case is on audit hold: its personal data cannot be erased."),
    "audit_hold_already_placed": N_("The case is already on audit hold."),
    "no_audit_hold": N_("The case is not on audit hold."),
    "already_confidential": N_("The identity is already confidential."),
    "forbidden": N_("Your role may not do this."),
    "not_allowed_when": N_("This step is not possible while the case is “%(status)s”."),
}
"""Why a step was refused (a domain error's `rule`), as a person is told."""

_NOT_ALLOWED = re.compile(r"^(?P<step>[a-z_]+)_not_allowed_when_(?P<status>[a-z_]+)$")


def humanized(name: str) -> str:
    """A wire name without a label yet, readable at least."""
    return name.replace("_", " ").replace("-", " ").capitalize()


def vocabulary_label(vocabulary: str, value: str) -> str:
    return VOCABULARY.get(vocabulary, {}).get(value) or humanized(value)


def vocabulary_of(values: tuple[str, ...]) -> str | None:
    """Which fixed list a Literal's values come from (a form's select)."""
    for name, labels in VOCABULARY.items():
        if values and all(v in labels for v in values):
            return name
    return None


def event_label(tag: str) -> str:
    return EVENTS.get(tag.partition(".")[2]) or humanized(tag.partition(".")[2] or tag)


def rule_message(rule: str) -> tuple[str, dict[str, str]]:
    """The message for a refusal's rule and the values it takes (a status to label);
    ("", {}) when the rule has no message of its own."""
    if rule in RULES:
        return RULES[rule], {}
    if (match := _NOT_ALLOWED.match(rule)) is not None:
        return RULES["not_allowed_when"], {"status": match["status"]}
    return "", {}
