"""The local stack's stand-in command lines survive any random token."""

from pathlib import Path

from ddd_cli.local_stack import LocalPorts, standin_commands
from devhost.website_standin import command_line


def test_a_token_that_starts_with_a_dash_reaches_the_website_stand_in(tmp_path: Path) -> None:
    # secrets.token_urlsafe starts with '-' about one time in 64: argparse took it for an option
    token = "-Xq3_f9a"
    commands = standin_commands("python", LocalPorts(), tmp_path / "tls", tmp_path, token)
    website, _ = commands["website"]
    assert command_line().parse_args(website[3:]).token == token
    for command, _ in commands.values():
        assert all(argument.startswith("--") and "=" in argument for argument in command[3:])
