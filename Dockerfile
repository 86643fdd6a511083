# The agentpipe image: agent service, remote agents, offline model and the `init` one-shot
# (compose.yaml picks the process with `command`). No Docker BuildKit features needed.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, in their own layer: a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import subprocess, sys, tomllib; \
deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
subprocess.check_call([sys.executable, '-m', 'pip', 'install', *deps])"

# Then the project itself (see .dockerignore for what stays out).
COPY . .
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 agentpipe \
    && mkdir /agentpipe-state && chown agentpipe /agentpipe-state  # a new named volume takes this owner

USER agentpipe

EXPOSE 9080 9081 9099
CMD ["python", "-m", "handlers"]
