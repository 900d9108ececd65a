# The worker's image: `docker build -t pinpoint-sync .`
# Two stages: a wheel is built with the build tools, and only the wheel is installed into a slim
# runtime (no compiler, no source tree, no pip cache). No HEALTHCHECK: Kubernetes probes /healthz
# and /readyz (deploy/kubernetes/), and compose defines its own healthchecks.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY worker ./worker
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin worker \
    && mkdir -p /var/lib/pinpoint-sync && chown 10001 /var/lib/pinpoint-sync
USER 10001
ENV PINPOINT_SYNC_STATE_PATH=/var/lib/pinpoint-sync/state.db \
    PINPOINT_SYNC_LOG_FORMAT=json
EXPOSE 9400
ENTRYPOINT ["pinpoint-sync"]
CMD ["run"]
