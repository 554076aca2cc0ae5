FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt constraints.txt ./
# The same versions as the tests ran with (reviewapp/broker.py depends on kombu's Redis transport).
RUN pip install --no-cache-dir -r requirements.txt -c constraints.txt
COPY . .
RUN SECRET_KEY=build AUDIT_HMAC_KEY=build DATABASE_URL=postgres://x@localhost/x REDIS_URL=redis://localhost \
    python manage.py collectstatic --noinput
EXPOSE 8000
# gunicorn.conf.py (read from /app) sets the log format, timeouts and the multiprocess metrics hook.
CMD ["gunicorn", "reviewapp.wsgi", "--config", "gunicorn.conf.py", "--bind", "0.0.0.0:8000", "--workers", "3"]
