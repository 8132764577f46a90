"""deploy/: the worker container recipe and the Kubernetes example, checked without
Docker or a cluster (neither is here): every file the Dockerfile copies exists, its
pip steps are the Makefile's, and what both run parses as the course's worker command.
Building the image and applying the manifest are NOT tested here."""

import re
import shlex

import yaml

from conftest import ROOT

from course_utils.cli import main as cli

DOCKERFILE = ROOT / "deploy" / "worker" / "Dockerfile"
MANIFEST = ROOT / "deploy" / "kubernetes" / "workers.yaml"


def _instructions(path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def _pip_installs(commands: str) -> list[str]:
    """The arguments of each `pip install` in a shell text, without cache options."""
    installs = []
    for command in re.split(r"&&|\n", commands):
        if command.strip().lstrip("@").startswith("#"):
            continue
        words = shlex.split(command.replace("$(RETRY) ", "").replace("$(BIN)/", ""))
        if words[:2] == ["pip", "install"]:
            installs.append(" ".join(w for w in words[2:] if w != "--no-cache-dir"))
    return installs


def test_every_file_the_dockerfile_copies_exists():
    copies = [args.split() for keyword, args in _instructions(DOCKERFILE)
              if keyword in ("COPY", "ADD")]
    assert copies
    for *sources, _destination in copies:
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"


def _classic_stack_recipe() -> str:
    """The Makefile's setup recipe with the classic stack's variables filled in (the
    image is Python 3.11: the `else` branch of the Makefile's stack choice)."""
    makefile = (ROOT / "Makefile").read_text()
    classic = makefile.split("ifeq ($(STACK),modern)", 1)[1].split("else", 1)[1]
    classic = classic.split("endif", 1)[0]
    variables = dict(re.findall(r"^(\w+)\s*:=\s*(.+?)\s*$", classic, flags=re.M))
    assert {"REQUIREMENTS", "TFF_REQUIREMENTS", "TFF_PIP_FLAGS"} <= variables.keys()
    recipe = makefile.split("$(STAMP):", 1)[1].split("\n\n")[0]
    for name, value in variables.items():
        recipe = recipe.replace(f"$({name})", value)
    return recipe


def test_dockerfile_installs_exactly_what_the_makefile_installs():
    runs = " && ".join(args for keyword, args in _instructions(DOCKERFILE)
                       if keyword == "RUN")
    recipe = _classic_stack_recipe()
    assert _pip_installs(runs) == _pip_installs(recipe)
    assert "-r requirements.txt" in _pip_installs(runs)
    assert "--no-deps -r requirements-tff.txt" in _pip_installs(runs)


def test_dockerfile_uses_the_course_python():
    [base] = [args for keyword, args in _instructions(DOCKERFILE) if keyword == "FROM"]
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()  # python-3.11
    assert base.startswith(f"python:{runtime.removeprefix('python-')}-")


def test_dockerfile_runs_the_worker_command():
    found = dict(_instructions(DOCKERFILE))
    entrypoint, cmd = yaml.safe_load(found["ENTRYPOINT"]), yaml.safe_load(found["CMD"])
    assert entrypoint == ["course-utils", "worker"]
    args = cli.build_parser().parse_args(entrypoint[1:] + cmd)
    assert args.run is cli._worker and f"EXPOSE {args.port}" in DOCKERFILE.read_text()


def test_kubernetes_workers_have_stable_addresses_and_the_worker_command():
    service, stateful_set = yaml.safe_load_all(MANIFEST.read_text())
    assert (service["kind"], stateful_set["kind"]) == ("Service", "StatefulSet")
    assert service["spec"]["clusterIP"] == "None"     # headless: a DNS name per pod
    assert stateful_set["spec"]["serviceName"] == service["metadata"]["name"]
    pod = stateful_set["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    [container] = pod["spec"]["containers"]
    args = cli.build_parser().parse_args(["worker", *container["args"]])
    assert args.run is cli._worker
    [port] = container["ports"]
    assert port["containerPort"] == args.port == service["spec"]["ports"][0]["port"]
    [mount] = container["volumeMounts"]
    assert mount["mountPath"] == args.data and mount["readOnly"]
    # The addresses the comment tells learners to use are the pods' DNS names.
    name, service_name = stateful_set["metadata"]["name"], service["metadata"]["name"]
    for i in range(stateful_set["spec"]["replicas"]):
        assert f'"{name}-{i}.{service_name}:{args.port}"' in MANIFEST.read_text()
