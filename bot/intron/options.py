"""What a chat can ask Intron for: categories, post-processing flags, languages.

This is the single catalog that the settings menu, the upload form and the result renderer
all read, so a flag added here shows up everywhere at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import (
    BaseModel,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from bot.i18n import N_, Translator


@dataclass(frozen=True)
class Category:
    key: str  # short, stable id used in callback data and the database
    label: str  # an English message id: shown through the chat's translator
    api_value: str | None  # the `use_category` value; None sends no category
    flags: tuple[str, ...]  # the `get_<flag>` names this category supports
    default_flags: tuple[str, ...]


TRANSCRIPT_ONLY = "none"

CATEGORIES: dict[str, Category] = {
    c.key: c
    for c in (
        Category(TRANSCRIPT_ONLY, N_("Transcript only"), None, (), ()),
        Category("general", N_("General"), "file_category_general", ("summary",), ("summary",)),
        Category(
            "telehealth",
            N_("Telehealth"),
            "file_category_telehealth",
            (
                "summary",
                "soap_note",
                "clerking",
                "treatment_plan",
                "entity_list",
                "icd_codes",
                "suggestions",
                "differential_diagnosis",
                "followup_instructions",
                "practice_guidelines",
            ),
            ("summary",),
        ),
        Category(
            "procedure",
            N_("Procedure"),
            "file_category_procedure",
            ("summary", "op_note", "treatment_plan", "entity_list", "icd_codes", "suggestions"),
            ("summary",),
        ),
        Category(
            "call_center",
            N_("Call center"),
            "file_category_call_center",
            (
                "summary",
                "call_center_results",
                "call_center_agent_score",
                "call_center_agent_score_category",
                "call_center_product_insights",
                "call_center_product_info",
                "call_center_compliance",
                "call_center_feedback",
                "call_center_sentiment",
            ),
            ("summary",),
        ),
        Category(
            "legal",
            N_("Legal"),
            "file_category_legal",
            ("legal_court_hearing",),
            ("legal_court_hearing",),
        ),
        Category(
            "meeting_notes",
            N_("Meeting notes"),
            "file_category_meeting_notes",
            (
                "summary",
                "meeting_notes_participants",
                "meeting_notes_decisions",
                "meeting_notes_action_items",
                "meeting_notes_key_topics",
                "meeting_notes_next_steps",
            ),
            ("summary",),
        ),
    )
}

# Human labels of the post-processing results, keyed by flag name (`get_<flag>` is sent,
# `transcript_<flag>` comes back). Order here is the order results are shown in.
RESULT_LABELS: dict[str, str] = {
    "summary": N_("📋 Summary"),
    "soap_note": N_("🩺 SOAP note"),
    "clerking": N_("🗂 Clerking"),
    "treatment_plan": N_("💊 Treatment plan"),
    "op_note": N_("🔪 Operation note"),
    "differential_diagnosis": N_("🔍 Differential diagnosis"),
    "icd_codes": N_("🏷 ICD codes"),
    "entity_list": N_("🧾 Entities"),
    "suggestions": N_("💡 Suggestions"),
    "followup_instructions": N_("📅 Follow-up instructions"),
    "practice_guidelines": N_("📚 Practice guidelines"),
    "call_center_results": N_("📞 Call result"),
    "call_center_agent_score": N_("⭐ Agent score"),
    "call_center_agent_score_category": N_("🏅 Agent score category"),
    "call_center_product_insights": N_("💡 Product insights"),
    "call_center_product_info": N_("📦 Product information"),
    "call_center_compliance": N_("✅ Compliance"),
    "call_center_feedback": N_("🗣 Customer feedback"),
    "call_center_sentiment": N_("🙂 Sentiment"),
    "legal_court_hearing": N_("⚖️ Court hearing"),
    "meeting_notes_participants": N_("👥 Participants"),
    "meeting_notes_decisions": N_("✔️ Decisions"),
    "meeting_notes_action_items": N_("📌 Action items"),
    "meeting_notes_key_topics": N_("🗝 Key topics"),
    "meeting_notes_next_steps": N_("➡️ Next steps"),
    "answer": N_("❓ Answer"),
}

TRANSCRIPT_LABEL = N_("📝 Transcript")

# Results written for the patient rather than the clinician: each comes as its own short
# message, apart from the note, so it can be forwarded to the patient as it is.
FOR_THE_PATIENT: tuple[str, ...] = ("followup_instructions",)


# Who speaks in a diarized recording, in the order they first speak: role pairs fitting the
# categories, each offered both ways round (who spoke first is not known).
ROLES: dict[str, str] = {
    "clinician": N_("Clinician"),
    "patient": N_("Patient"),
    "agent": N_("Agent"),
    "customer": N_("Customer"),
    "interviewer": N_("Interviewer"),
    "interviewee": N_("Interviewee"),
}
_PAIRS = (("clinician", "patient"), ("agent", "customer"), ("interviewer", "interviewee"))
ROLE_PAIRS: dict[str, tuple[str, str]] = {
    f"{a}_{b}": (a, b) for first, second in _PAIRS for a, b in ((first, second), (second, first))
}
# The pairs a category's results are offered first; a category with no obvious fit offers all.
_FITTING_PAIRS: dict[str, str] = {
    "telehealth": "clinician",
    "procedure": "clinician",
    "call_center": "agent",
    "meeting_notes": "interviewer",
    "legal": "interviewer",
}
MAX_SPEAKER_NAMES = 10
SPEAKER_NAME_MAX = 40


def role_pairs_for(category: str) -> list[str]:
    """The role pairs fitting a category (both ways round), every pair where none fits."""
    fit = _FITTING_PAIRS.get(category)
    pairs = [key for key, (a, b) in ROLE_PAIRS.items() if fit is None or fit in (a, b)]
    return pairs


def role_pair_label(key: str, tr: Translator) -> str:
    """`Clinician / Patient`: the first speaker's role, then the second's."""
    return " / ".join(tr.gettext(ROLES[role]) for role in ROLE_PAIRS[key])


def speaker_names(speakers: Mapping[str, Any] | None, tr: Translator) -> tuple[str, ...]:
    """The names a result's speakers are shown under, in the order they first speak (a role
    pair in `tr`'s language, or the typed names); empty for "Speaker 1", "Speaker 2"."""
    if not isinstance(speakers, Mapping):
        return ()
    roles = speakers.get("roles")
    if isinstance(roles, str) and roles in ROLE_PAIRS:
        return tuple(tr.gettext(ROLES[role]) for role in ROLE_PAIRS[roles])
    names = speakers.get("names")
    if isinstance(names, list):
        return tuple(str(name)[:SPEAKER_NAME_MAX] for name in names[:MAX_SPEAKER_NAMES])
    return ()


def flag_label(flag: str, tr: Translator) -> str:
    """The label without its emoji, for buttons and one-line summaries."""
    label = RESULT_LABELS.get(flag)
    if label is None:
        return readable_name(flag)
    return tr.gettext(label).split(" ", 1)[-1]


def spoken_language_name(code: str, tr: Translator) -> str:
    return tr.language_name(code, LANGUAGE_NAMES.get(code, code))


def readable_name(field: str) -> str:
    """`call_center_new_thing` -> `Call center new thing`, for fields we do not know yet."""
    words = field.removeprefix("transcript_").replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else field


# (code, name) in the order the menu shows them: the African languages Intron code-switches
# with English first, then the rest.
LANGUAGES: tuple[tuple[str, str], ...] = (
    ("sw", "Swahili"),
    ("yo", "Yoruba"),
    ("ha", "Hausa"),
    ("ig", "Igbo"),
    ("pcm", "Nigerian Pidgin"),
    ("am", "Amharic"),
    ("zu", "Zulu"),
    ("rw", "Kinyarwanda"),
    ("lg", "Luganda"),
    ("ak", "Akan"),
    ("wo", "Wolof"),
    ("af", "Afrikaans"),
    ("bem", "Bemba"),
    ("ff", "Fula"),
    ("gaa", "Ga"),
    ("ki", "Kikuyu"),
    ("kr", "Kanuri"),
    ("luo", "Luo"),
    ("nso", "Northern Sotho"),
    ("nup", "Nupe"),
    ("nyn", "Runyankole"),
    ("om", "Oromo"),
    ("sn", "Shona"),
    ("st", "Sesotho"),
    ("ti", "Tigrinya"),
    ("tn", "Tswana"),
    ("tw", "Twi"),
    ("xh", "Xhosa"),
    ("en", "English"),
    ("fr", "French"),
    ("ar", "Arabic"),
    ("pt", "Portuguese"),
    ("es", "Spanish"),
    ("de", "German"),
)
LANGUAGE_NAMES: dict[str, str] = dict(LANGUAGES)


# What the bot accepts as an Intron template id (bot/config.py checks the configured ones the
# same way): it is sent in the upload form and carried in button data.
TEMPLATE_ID = re.compile(r"[A-Za-z0-9_.-]{1,48}")


class TranscriptionOptions(BaseModel):
    """The options one upload is sent with. Validated, so stored or clicked values that
    no longer make sense are rejected instead of reaching Intron."""

    category: str = TRANSCRIPT_ONLY
    flags: list[str] = Field(default_factory=list)
    diarization: bool = False
    language: str | None = None
    # An Intron template (a custom post-processing prompt) the operator offers: `use_template_id`.
    template_id: str | None = None

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        if value not in CATEGORIES:
            raise ValueError(f"unknown category {value!r}")
        return value

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str | None) -> str | None:
        if value is not None and value not in LANGUAGE_NAMES:
            raise ValueError(f"unknown language {value!r}")
        return value

    @field_validator("template_id")
    @classmethod
    def _template_shape(cls, value: str | None) -> str | None:
        if value is not None and not TEMPLATE_ID.fullmatch(value):
            raise ValueError("not a template id")
        return value

    @model_serializer(mode="wrap")
    def _without_unset_template(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """No template, no key: options stored before templates existed compare equal to the
        same options now, so their results still answer forwarded copies."""
        data: dict[str, Any] = handler(self)
        if data.get("template_id") is None:
            data.pop("template_id", None)
        return data

    @model_validator(mode="after")
    def _flags_belong_to_category(self) -> TranscriptionOptions:
        supported = CATEGORIES[self.category].flags
        unknown = [f for f in self.flags if f not in supported]
        if unknown:
            raise ValueError(f"flags {unknown} are not offered by category {self.category!r}")
        # Keep the catalog's order so the form and the menu are stable.
        self.flags = [f for f in supported if f in self.flags]
        return self

    @classmethod
    def for_category(
        cls, key: str, *, keep: TranscriptionOptions | None = None
    ) -> TranscriptionOptions:
        """Switch to a category with its defaults, keeping the choices that do not depend on it."""
        category = CATEGORIES[key]
        return cls(
            category=key,
            flags=list(category.default_flags),
            diarization=keep.diarization if keep else False,
            language=keep.language if keep else None,
            template_id=keep.template_id if keep else None,
        )

    def with_flag_toggled(self, flag: str) -> TranscriptionOptions:
        flags = [f for f in self.flags if f != flag] if flag in self.flags else [*self.flags, flag]
        return self.with_flags(flags)

    def with_flags(self, flags: list[str]) -> TranscriptionOptions:
        """The same options with these outputs (validated again: they must be the category's)."""
        return TranscriptionOptions(
            category=self.category,
            flags=flags,
            diarization=self.diarization,
            language=self.language,
            template_id=self.template_id,
        )

    def form_fields(self) -> dict[str, str]:
        """The upload form fields these options mean, exactly as Intron expects them."""
        fields: dict[str, str] = {}
        category = CATEGORIES[self.category]
        if category.api_value is not None:
            fields["use_category"] = category.api_value
            for flag in category.flags:
                fields[f"get_{flag}"] = "TRUE" if flag in self.flags else "FALSE"
        if self.diarization:
            fields["use_diarization"] = "TRUE"
        if self.language is not None:
            fields["use_language_asr_input"] = self.language
        if self.template_id is not None:
            fields["use_template_id"] = self.template_id
        return fields

    def describe(self, tr: Translator) -> str:
        """One glance at the settings, for /start and the closed settings menu."""
        category = CATEGORIES[self.category]
        lines = [tr.gettext("Category: {category}", category=tr.gettext(category.label))]
        if category.flags:
            chosen = ", ".join(flag_label(f, tr) for f in self.flags) or tr.gettext(
                "transcript only"
            )
            lines.append(tr.gettext("Outputs: {outputs}", outputs=chosen))
        state = tr.gettext("on") if self.diarization else tr.gettext("off")
        lines.append(tr.gettext("Speaker separation: {state}", state=state))
        if self.language:
            language = spoken_language_name(self.language, tr)
            lines.append(tr.gettext("Spoken language: {language}", language=language))
        else:
            lines.append(tr.gettext("Spoken language: not set"))
        return "\n".join(lines)
