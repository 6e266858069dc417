# The retrain pipeline image: every step of the compiled pipeline, and the CronJob that
# runs `retrain submit`, run in it. Its name is the config's `kubeflow.image`
# (default `retrain:latest`):
#
#   docker build -t retrain:latest .
#   docker tag retrain:latest REGISTRY/retrain:TAG && docker push REGISTRY/retrain:TAG
#
# Installed from the same requirements.lock as `make install` (--no-deps: the lock is
# the complete, resolved set). GPU: the CUDA 12.3 base (what TensorFlow 2.16 is built
# against) plus the CUDA/cuDNN libraries TensorFlow pins for itself (its `and-cuda`
# extra, resolved under the lock as constraints). PyTorch stays the lock's CPU build:
# TensorFlow 2.16 needs cuDNN 8.9, current CUDA builds of PyTorch need cuDNN 9, and one
# environment cannot hold both (see kubernetes/README.md).
ARG CUDA_IMAGE=nvidia/cuda:12.3.2-base-ubuntu22.04
FROM ${CUDA_IMAGE}

ARG DEBIAN_FRONTEND=noninteractive
# Python 3.11 (the version the lock was resolved for) from the deadsnakes PPA.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates gnupg software-properties-common \
 && add-apt-repository -y ppa:deadsnakes/ppa \
 && apt-get update \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3.11-dev build-essential \
 && apt-get purge -y software-properties-common \
 && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/*

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    TF_USE_LEGACY_KERAS=1
RUN python3.11 -m venv "$VIRTUAL_ENV"

WORKDIR /opt/retrain/src
# The locked stack first (its own layer: rebuilt only when the lock changes).
COPY requirements.lock constraints.txt ./
# torch==…+cpu comes from PyTorch's CPU index; `wheel` is for building retrain below.
RUN pip install --no-deps --ignore-requires-python --extra-index-url https://download.pytorch.org/whl/cpu \
        -r requirements.lock wheel \
 && pip install --constraint requirements.lock "tensorflow[and-cuda]==2.16.2"

# retrain itself (components/ and pipelines/ are what the steps import).
COPY pyproject.toml setup.py README.md ./
COPY components ./components
COPY pipelines ./pipelines
RUN pip install --no-deps --no-build-isolation .

# The built-in example's data and backbone where compiled pipelines look for them
# (`kubeflow.data_root`, default /opt/retrain/examples).
RUN python -c "from pathlib import Path; from components.digits_example.prepare import prepare_digits_example; prepare_digits_example(Path('/opt/retrain/examples/digits'), 'image', 'label')"
RUN python -c "from pathlib import Path; from components.emoji_example.prepare import prepare_emoji_example; prepare_emoji_example(Path('/opt/retrain/examples/emoji'))"
# The named backbones (`backbone.name`), converted into the cache that compiled pipelines point at (kubeflow.data_root).
RUN RETRAIN_CACHE=/opt/retrain/examples python -c "from components.backbones.cache import resolve_backbone; from components.backbones.registry import backbone_names; [resolve_backbone(name) for name in backbone_names()]"

# Non-root: uid/gid 1000, as the CronJob's securityContext expects.
RUN groupadd --gid 1000 retrain \
 && useradd --uid 1000 --gid 1000 --create-home --home-dir /home/retrain retrain
USER 1000:1000
WORKDIR /home/retrain
ENV HOME=/home/retrain
ENTRYPOINT []
CMD ["retrain", "--help"]
