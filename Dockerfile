# One image for every eventclip service: `eventclip serve buffer|events|clipper|gateway`.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 EVENTCLIP_LOG_FORMAT=json
WORKDIR /app
COPY pyproject.toml README.md ./
COPY protos ./protos
COPY services ./services
COPY plugins ./plugins
RUN pip install . && useradd --system --home /data eventclip && mkdir -p /data && chown eventclip /data
USER eventclip
VOLUME ["/data"]
EXPOSE 50051 50052 50053 8080
ENTRYPOINT ["eventclip"]
CMD ["run", "--config", "/etc/eventclip/eventclip.yaml"]
