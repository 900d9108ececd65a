# The worker's image: `docker build -t pinpoint-sync .`
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY worker ./worker
RUN pip install --no-cache-dir . && useradd --uid 10001 --no-create-home worker \
    && mkdir -p /var/lib/pinpoint-sync && chown worker /var/lib/pinpoint-sync
USER worker
ENV PINPOINT_SYNC_STATE_PATH=/var/lib/pinpoint-sync/state.db \
    PINPOINT_SYNC_LOG_FORMAT=json
EXPOSE 9400
ENTRYPOINT ["pinpoint-sync"]
CMD ["run"]
