"""`local up`'s port check agrees with the servers it starts: a port whose last connections sit
in TIME-WAIT (a minute after `local down`) is free for each of them, and a port something
listens on is not. The servers bind as devhost (aiohttp's TCPSite), the stand-ins
(`ThreadingHTTPServer`) and Azurite (Node's http server) do."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from aiohttp import web

from ddd_cli.local_stack import port_is_free
from devhost.standin_http import StandInServer

NODE_LISTEN = """
const server = require('http').createServer();
server.on('error', (error) => { console.log(error.code); process.exit(3); });
server.listen(Number(process.argv[1]), '127.0.0.1', () => { console.log('listening');
                                                           server.close(); });
"""


def aiohttp_listens(port: int) -> bool:
    """As devhost serves: web.TCPSite(runner, host, port)."""
    async def listen() -> bool:
        runner = web.AppRunner(web.Application())
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", port).start()
        except OSError:
            return False
        finally:
            await runner.cleanup()
        return True
    return asyncio.run(listen())


def standin_listens(port: int) -> bool:
    """As the website, Key Vault and e-mail stand-ins serve (a StandInServer)."""
    try:
        server = StandInServer(BaseHTTPRequestHandler, port=port)
    except OSError:
        return False
    server.server.server_close()
    return True


def node_listens(port: int) -> bool:
    """As Azurite serves: Node's http.createServer().listen(port, host)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Azurite's runtime (node) is not on PATH")
    answer = subprocess.run([node, "-e", NODE_LISTEN, str(port)], capture_output=True,
                            text=True, timeout=30)
    return answer.returncode == 0 and "listening" in answer.stdout


SERVERS = {"devhost (aiohttp)": aiohttp_listens, "stand-ins (http.server)": standin_listens,
           "Azurite (node)": node_listens}


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


@pytest.fixture
def port_listened_on_all_addresses() -> Iterator[int]:
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("0.0.0.0", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


@pytest.mark.parametrize("server", SERVERS)
def test_a_port_in_time_wait_is_free_as_every_server_of_the_stack_binds(port_in_time_wait,
                                                                        server):
    assert port_is_free(port_in_time_wait)
    assert SERVERS[server](port_in_time_wait), f"{server} could not listen where the check " \
                                               "said the port was free"


@pytest.mark.parametrize("server", SERVERS)
def test_a_port_something_listens_on_is_taken_for_the_check_and_every_server(listening_port,
                                                                            server):
    assert not port_is_free(listening_port)
    assert not SERVERS[server](listening_port)


def test_a_listener_on_every_address_takes_the_loopback_port(port_listened_on_all_addresses):
    assert not port_is_free(port_listened_on_all_addresses)
