"""`inbox serve --roles`: which roles a process runs, and which it hands to child processes."""

from __future__ import annotations

import pytest

from inbox.cli_args import Failure, grammar
from inbox.roles import ALL_ROLES, Role, layout, parse_roles

RECEIVE, INGEST, SEND = Role.RECEIVE, Role.INGEST, Role.SEND


def test_roles_are_read_from_a_comma_separated_list() -> None:
    assert parse_roles("receive") == {RECEIVE}
    assert parse_roles(" ingest , send ") == {INGEST, SEND}
    assert parse_roles("send,send") == {SEND}


@pytest.mark.parametrize("text, named", [("recieve", "recieve"), ("ingest,http", "http"), ("", "at least one"),
                                         (",", "at least one")])
def test_an_unknown_or_empty_role_list_is_refused_naming_the_problem(text: str, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        parse_roles(text)


def test_the_command_line_refuses_an_unknown_role_as_a_usage_error() -> None:
    with pytest.raises(Failure, match="not a role: everything") as refused:
        grammar().parse_args(["serve", "--roles", "everything"])
    assert refused.value.status == 2
    args = grammar().parse_args(["serve"])
    assert args.roles == ALL_ROLES and not args.one_process
    assert grammar().parse_args(["serve", "--roles", "receive", "--one-process"]).roles == {RECEIVE}


def test_split_the_listener_stays_and_every_other_role_gets_a_process() -> None:
    here, children = layout(ALL_ROLES, cores=2, split=True)
    assert here == {RECEIVE}
    assert children == [{INGEST}, {SEND}]  # in the order of the flow: the order they are stopped in


def test_without_receive_the_started_process_only_supervises() -> None:
    assert layout(frozenset({INGEST, SEND}), cores=4, split=True) == (frozenset(), [{INGEST}, {SEND}])


@pytest.mark.parametrize("roles, cores, split", [(ALL_ROLES, 1, True), (ALL_ROLES, 8, False),
                                                 (frozenset({SEND}), 8, True), (frozenset({RECEIVE}), 8, True)])
def test_one_process_runs_everything_itself(roles: frozenset[Role], cores: int, split: bool) -> None:
    """One core (another process would only fight for it), --one-process, or a single role."""
    assert layout(roles, cores=cores, split=split) == (roles, [])
