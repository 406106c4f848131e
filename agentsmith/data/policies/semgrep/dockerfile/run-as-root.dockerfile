FROM python:3.12-slim
RUN useradd -u 10001 app
# ok: dockerfile-user-root
USER root
RUN apt-get update
USER 10001
RUN pip install requests
# ruleid: dockerfile-user-root
USER root
CMD ["python", "-m", "app"]
