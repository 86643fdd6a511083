"""Fetch what the local stack runs, into a cache folder a later run reuses.

- Kafka: ``mvn dependency:build-classpath`` on stack/pom.xml, local repository in <cache>/m2.
- Restate: ``npm install`` of restate-server and the CLI (pinned) into <cache>/npm.
- The AsyncAPI parser: ``npm install`` of stack/asyncapi/package.json into <cache>/npm-asyncapi
  (for checking docs/asyncapi.yaml; the stack does not need it).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from agentpipe.settings import get_settings
from stack.errors import StackError

RESTATE_VERSION = "1.7.12"
STACK_DIR = Path(__file__).resolve().parent


def require_tool(component: str, tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise StackError(component, f"`{tool}` not found on PATH; {hint}")
    return path


def _run(component: str, cmd: list[str], log_file: Path, timeout: float, cwd: Path | None = None) -> None:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        try:
            done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise StackError(component, f"`{' '.join(cmd[:2])}` timed out after {timeout:.0f}s", log_file) from None
    if done.returncode != 0:
        tail = log_tail(log_file, 5)
        raise StackError(component, f"`{' '.join(cmd[:2])}` failed (exit {done.returncode}): {tail}", log_file)


def log_tail(log_file: Path, lines: int = 20) -> str:
    try:
        text = log_file.read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return "(no log)"
    return " | ".join(line.strip() for line in text[-lines:] if line.strip())


def kafka_classpath(log_dir: Path) -> str:
    """The broker classpath, resolved once per pom content and cached."""
    require_tool("kafka", "java", "install a JDK 17 or newer (Kafka 4 needs it)")
    cache = get_settings().cache_dir
    pom = STACK_DIR / "pom.xml"
    stamp = hashlib.sha256(pom.read_bytes()).hexdigest()[:12]  # new pom → new classpath file
    cp_file = cache / f"kafka-classpath-{stamp}.txt"
    if cp_file.exists():
        classpath = cp_file.read_text().strip()
        if all(Path(jar).exists() for jar in classpath.split(":")):
            return classpath
    mvn = require_tool("kafka", "mvn", "install Apache Maven to fetch the Kafka jars from Maven Central")
    cache.mkdir(parents=True, exist_ok=True)
    _run(
        "kafka",
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            f"-Dmaven.repo.local={cache / 'm2'}",
            "dependency:build-classpath",
            f"-Dmdep.outputFile={cp_file}",
        ],
        log_dir / "install-kafka.log",
        timeout=600,
    )
    return cp_file.read_text().strip()


def _npm_binaries(name: str, packages: list[str], binaries: list[Path], log_dir: Path) -> None:
    """Install ``packages`` (pinned) into the npm cache unless ``binaries`` are already there."""
    prefix = get_settings().cache_dir / "npm"
    installed = prefix / f".installed-{name}-{RESTATE_VERSION}"
    if installed.exists() and all(b.exists() for b in binaries):
        return
    npm = require_tool("restate", "npm", f"install Node.js with npm to fetch {name} from the npm registry")
    prefix.mkdir(parents=True, exist_ok=True)
    pinned = [f"@restatedev/{package}@{RESTATE_VERSION}" for package in packages]
    _run(
        "restate",
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix), *pinned],
        log_dir / f"install-{name}.log",
        timeout=600,
    )
    missing = [b for b in binaries if not b.exists()]
    if missing:
        raise StackError("restate", f"npm installed no binary at {missing[0]} (only linux-x64 is supported)")
    installed.touch()


def _npm_bin(package: str, binary: str) -> Path:
    return get_settings().cache_dir / "npm" / "node_modules" / "@restatedev" / f"{package}-linux-x64" / "bin" / binary


def restate_binaries(log_dir: Path) -> tuple[Path, Path]:
    """Paths of restate-server and the restate CLI, installed with npm if missing."""
    server, cli = _npm_bin("restate-server", "restate-server"), _npm_bin("restate", "restate")
    _npm_binaries("restate", ["restate-server", "restate"], [server, cli], log_dir)
    return server, cli


def restatectl_binary(log_dir: Path) -> Path:
    """restatectl, Restate's cluster tool (provisioning, node and partition status); npm, cached."""
    binary = _npm_bin("restatectl", "restatectl")
    _npm_binaries("restatectl", ["restatectl"], [binary], log_dir)
    return binary


ASYNCAPI_TOOLS = STACK_DIR / "asyncapi"


def asyncapi_validator(log_dir: Path | None = None) -> Path:
    """stack/asyncapi/validate.cjs beside the official AsyncAPI parser, installed with npm once per
    package.json; run it with ``node``. The npm log goes to ``log_dir`` (default: the install folder)."""
    prefix = get_settings().cache_dir / "npm-asyncapi"
    package = (ASYNCAPI_TOOLS / "package.json").read_bytes()
    installed = prefix / f".installed-{hashlib.sha256(package).hexdigest()[:12]}"  # new package.json → reinstall
    if not installed.exists() or not (prefix / "node_modules" / "@asyncapi" / "parser").is_dir():
        npm = require_tool(
            "asyncapi", "npm", "install Node.js with npm to fetch @asyncapi/parser from the npm registry"
        )
        prefix.mkdir(parents=True, exist_ok=True)
        for stale in prefix.glob(".installed-*"):
            stale.unlink()
        (prefix / "package.json").write_bytes(package)
        # --ignore-scripts: a validator needs no install scripts (one dependency's would report telemetry).
        _run(
            "asyncapi",
            [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--prefix", str(prefix)],
            (log_dir or prefix) / "install-asyncapi.log",
            timeout=600,
        )
        installed.touch()
    script = prefix / "validate.cjs"  # beside node_modules, so that its require()s find the parser
    source = (ASYNCAPI_TOOLS / "validate.cjs").read_bytes()
    if not script.exists() or script.read_bytes() != source:
        script.write_bytes(source)
    return script


def nginx_binary() -> Path:
    """nginx, the cluster's load balancer in front of the agent-service processes (Debian's package)."""
    sbin = Path("/usr/sbin/nginx")  # not on every user's PATH
    if shutil.which("nginx") is None and sbin.exists():
        return sbin
    return Path(require_tool("balancer", "nginx", "install nginx (Debian: apt-get install nginx-light)"))
