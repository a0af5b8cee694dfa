"""A tenant's story: the scenarios applied to it and its resets, as a pact's provider states."""

from __future__ import annotations

from billing_sandbox.observe.stories import AppliedScenario, Stories, flattened


def applied(name: str, first: int, last: int) -> AppliedScenario:
    return AppliedScenario(name, first, last, {})


def test_a_call_s_states_are_the_scenarios_applied_before_it_since_the_last_reset() -> None:
    stories = Stories()
    stories.applied("acme", applied("one", 0, 3))
    assert stories.chapter("acme", 2) == (0, [])  # during the scenario: not yet applied
    assert stories.chapter("acme", 4) == (0, [applied("one", 0, 3)])
    stories.reset("acme", 5)
    stories.applied("acme", applied("two", 6, 8))
    assert stories.chapter("acme", 4) == (0, [applied("one", 0, 3)])
    assert stories.chapter("acme", 9) == (5, [applied("two", 6, 8)])
    assert stories.chapter("other", 9) == (0, [])


def test_a_reset_of_every_tenant_starts_each_one_s_story_afresh() -> None:
    stories = Stories()
    stories.applied("acme", applied("one", 0, 3))
    stories.reset(None, 4)
    assert stories.chapter("acme", 5) == (4, [])


def test_a_scenario_s_own_steps_are_known() -> None:
    stories = Stories()
    stories.applied("acme", applied("one", 2, 5))
    assert [stories.scenario_step("acme", seq) for seq in (2, 3, 5, 6)] == [
        False,
        True,
        True,
        False,
    ]
    assert not stories.scenario_step("other", 3)


def test_named_answers_are_flattened_to_the_names_generators_use() -> None:
    named = {"charge": {"id": "ch_1", "items": [{"name": "visit", "note": None}]}, "n": 3}
    assert flattened(named) == {"charge.id": "ch_1", "charge.items.0.name": "visit", "n": 3}


def test_what_is_kept_is_bounded() -> None:
    stories = Stories()
    for n in range(150):
        stories.applied("acme", applied(f"s{n}", n * 2, n * 2 + 1))
    kept = stories.chapter("acme", 10_000)[1]
    assert len(kept) == 100 and kept[-1].name == "s149"
    assert len(flattened({"big": list(range(10_000))})) == 2_000


def test_when_the_oldest_applications_fall_out_the_story_before_them_is_unknown() -> None:
    stories = Stories()
    assert stories.forgotten_through("acme") == 0
    for n in range(101):
        stories.applied("acme", applied(f"s{n}", n * 2, n * 2 + 1))
    # The first application (steps 0 < seq <= 1) fell out: up to its end, calls are unknown.
    assert stories.forgotten_through("acme") == 1
    assert not stories.scenario_step("acme", 1)  # what the caller can no longer tell
