# The service image: one process (`inbox serve` once it lands); config and templates mounted or baked in.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY inbox inbox
COPY classifiers classifiers
COPY autoresponder autoresponder
COPY templates templates
COPY config config
RUN pip install --no-cache-dir . && useradd --system inbox && mkdir -p var && chown inbox var
USER inbox
ENV INBOX_CONFIG=/app/config/inbox.yaml
CMD ["sh", "-c", "inbox db upgrade && inbox tickets list"]
