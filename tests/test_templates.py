"""Intron templates: the operator names them (INTRON_TEMPLATES), a chat picks one in /settings,
its uploads carry `use_template_id`, and a template Intron refuses is explained."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import ValidationError

from bot.config import Config, describe_config_error
from tests.conftest import RunningBot, replies_to, send_voice
from tests.fakes.intron_api import FakeIntron, Fault
from tests.fakes.telegram import FakeTelegram
from tests.test_settings import buttons, menu_message, open_settings, press

CHAT = 9501
TEMPLATES = "Paediatrics SOAP=tpl_123, Antenatal visit=tpl_456"


@pytest.fixture
async def templated_bot(bot_factory: Callable[..., RunningBot]) -> AsyncIterator[RunningBot]:
    running = bot_factory(intron_templates=TEMPLATES)
    await running.start()
    yield running
    await running.stop()


async def choose_template(telegram: FakeTelegram, name: str) -> None:
    menu = await open_settings(telegram, CHAT)
    await press(telegram, CHAT, menu, "Note template")
    labels = " ".join(b["text"] for b in buttons(menu_message(telegram, CHAT, menu)))
    assert "Paediatrics SOAP" in labels and "Antenatal visit" in labels
    answer = await press(telegram, CHAT, menu, name)
    assert name in answer.get("text", "")
    assert f"Note template: {name}" in menu_message(telegram, CHAT, menu)["text"]


async def test_a_chosen_template_is_sent_with_every_upload(
    telegram: FakeTelegram, intron: FakeIntron, templated_bot: RunningBot
) -> None:
    await choose_template(telegram, "Antenatal visit")
    sent = send_voice(telegram, CHAT)
    await intron.wait_for(lambda: len(intron.uploads) == 1)
    assert intron.uploads[0].fields["use_template_id"] == "tpl_456"
    # A transcript-only note with a template is not sent to the synchronous upload, which only
    # transcribes: Intron is asked through the usual upload.
    assert not intron.calls_to("sync")
    await telegram.wait_for(
        lambda: any(
            "📝 Transcript" in m.get("text", "")
            for m in replies_to(telegram, CHAT, sent["message_id"])
        )
    )

    menu = await open_settings(telegram, CHAT)
    await press(telegram, CHAT, menu, "Note template")
    await press(telegram, CHAT, menu, "No template")
    send_voice(telegram, CHAT)
    await intron.wait_for(lambda: len(intron.uploads) == 2)
    assert "use_template_id" not in intron.uploads[1].fields


async def test_a_template_intron_refuses_is_explained_with_how_to_choose_another(
    telegram: FakeTelegram, intron: FakeIntron, templated_bot: RunningBot
) -> None:
    await choose_template(telegram, "Antenatal visit")
    intron.inject("upload", Fault.rejected(400, "template tpl_456 does not exist"))
    sent = send_voice(telegram, CHAT)

    def failure() -> list[str]:
        return [
            m["text"]
            for m in replies_to(telegram, CHAT, sent["message_id"])
            if m.get("text", "").startswith("❌")
        ]

    await telegram.wait_for(lambda: bool(failure()))
    [text] = failure()
    assert "Antenatal visit" in text
    assert "template tpl_456 does not exist" in text, "Intron's reason"
    assert "/settings" in text
    assert intron.uploads == []


async def test_a_refusal_about_the_audio_is_not_blamed_on_the_template(
    telegram: FakeTelegram, intron: FakeIntron, templated_bot: RunningBot
) -> None:
    await choose_template(telegram, "Antenatal visit")
    intron.inject("upload", Fault.rejected(400, "invalid audio file"))
    sent = send_voice(telegram, CHAT)
    await telegram.wait_for(
        lambda: any(
            m.get("text", "").startswith("❌")
            for m in replies_to(telegram, CHAT, sent["message_id"])
        )
    )
    [text] = [m["text"] for m in replies_to(telegram, CHAT, sent["message_id"])][-1:]
    assert "did not accept this recording: invalid audio file" in text
    assert "template" not in text


def config_with(templates: str) -> Config:
    return Config(
        _env_file=None,  # type: ignore[call-arg]
        telegram_bot_token="1:token",
        intron_api_key="key",
        intron_templates=templates,
    )


def test_intron_templates_setting_is_read_in_order_and_checked() -> None:
    config = config_with(TEMPLATES)
    assert list(config.intron_templates.items()) == [
        ("Paediatrics SOAP", "tpl_123"),
        ("Antenatal visit", "tpl_456"),
    ]
    assert config.template_names == {"tpl_123": "Paediatrics SOAP", "tpl_456": "Antenatal visit"}
    assert config_with("").intron_templates == {}
    for bad, says in (
        ("Paediatrics SOAP", "name=template_id pairs"),
        ("SOAP=tpl 1", "template id"),
        ("SOAP=tpl_1,Other=tpl_1", "twice"),
    ):
        with pytest.raises(ValidationError) as error:
            config_with(bad)
        line = describe_config_error(error.value)
        assert line.startswith("Configuration error: INTRON_TEMPLATES") and says in line
