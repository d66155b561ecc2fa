"""Wire primitives: the seed document round-trips, timestamps, identifiers and slugs."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from imgsrc.ids import id_time, is_id, is_slug, new_id, slugify
from imgsrc.sources.schemas import ImageSource
from imgsrc.wire import ZERO_TIME, Timestamp, utcnow
from tests.api.helpers import assert_cycle_schema

SEED = Path(__file__).resolve().parents[1] / "data" / "seed-image-source.json"


def test_the_seed_example_parses_and_serialises_back_to_the_same_document() -> None:
    document = json.loads(SEED.read_text())
    model = ImageSource.model_validate(document)
    assert json.loads(model.model_dump_json()) == document
    assert_cycle_schema("ImageSource", json.loads(model.model_dump_json()))
    assert model.origin.type == "docker-hub"
    assert model.state.changed == datetime(2021, 1, 30, 8, 30, tzinfo=UTC)


def test_timestamps_are_rfc3339_with_milliseconds_and_the_zero_time_is_cycles() -> None:
    assert Timestamp.of(datetime(2026, 11, 28, 3, 55, 0, 123456, tzinfo=UTC)).wire() == "2026-11-28T03:55:00.123Z"
    assert ZERO_TIME.wire() == "0001-01-01T00:00:00Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", utcnow().wire())
    assert Timestamp.parse("2021-01-30T08:30:00+02:00") == datetime(2021, 1, 30, 6, 30, tzinfo=UTC)


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_canonical_timestamps_round_trip(moment: datetime) -> None:
    stamp = Timestamp.of(moment.replace(microsecond=moment.microsecond // 1000 * 1000))
    assert Timestamp.parse(stamp.wire()) == stamp


def test_ids_are_24_hex_with_a_time_prefix_and_never_repeat() -> None:
    ids = {new_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(is_id(i) for i in ids)
    assert abs(id_time(new_id()) - int(datetime.now(UTC).timestamp())) <= 2


def test_slugify_follows_the_documented_rule() -> None:
    assert slugify("My Redis 7!") == "my-redis-7"
    assert slugify("  --Ünïcode__name--  ") == "n-code-name"  # characters outside [a-z0-9] become `-`
    assert slugify("!!!") == ""


@given(st.text(max_size=80))
def test_slugify_always_yields_a_slug_or_nothing(name: str) -> None:
    slug = slugify(name)
    assert slug == "" or is_slug(slug)
    assert slugify(slug) == slug


def test_every_setting_is_described_and_documented() -> None:
    from imgsrc.settings import Settings

    documented = (Path(__file__).resolve().parents[2] / "docs" / "settings.md").read_text()
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no description"
        assert f"`IMGSRC_{name.upper()}`" in documented, f"docs/settings.md does not list IMGSRC_{name.upper()}"


def test_the_migrations_head_constant_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import imgsrc.migrations

    config = Config()
    config.set_main_option("script_location", str(Path(imgsrc.migrations.__file__).parent))
    assert ScriptDirectory.from_config(config).get_current_head() == imgsrc.migrations.HEAD
