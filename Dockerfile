# One image for every PakLog process; the command picks the role
# (`paklog gateway`, `paklog worker`, `paklog service <name>`, `paklog migrate`).
# Runtime dependencies only (requirements-runtime.lock): no test runner, linters or test server.

# The web app (web/, Vue): built here, only its dist/ goes into the image (no Node at run time).
FROM node:20-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PAKLOG_LOG_FORMAT=json \
    PAKLOG_WEB_DIST=/app/web/dist

WORKDIR /app
COPY requirements-runtime.lock ./
RUN python -m pip install --require-hashes --no-deps -r requirements-runtime.lock

COPY pyproject.toml README.md ./
COPY common ./common
COPY services ./services
COPY activities ./activities
COPY workflows ./workflows
COPY gateway ./gateway
COPY paklog ./paklog
COPY --from=web /web/dist ./web/dist
RUN python -m pip install --no-deps . \
    && useradd --system --uid 10001 paklog \
    && mkdir -p /var/lib/paklog && chown paklog /var/lib/paklog
# /var/lib/paklog: state of the carrier stand-in (a named volume in docker-compose.yml).
USER paklog

EXPOSE 8000
CMD ["paklog", "gateway", "--host", "0.0.0.0"]
