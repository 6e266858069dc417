# The pipeline images, two variants of one build (build arg IMAGE_VARIANT):
#
# - `tf` (default): every step but the PyTorch ones, and the CronJob that runs `retrain
#   submit`; the config's `kubeflow.image` (default `retrain:0.1.0`, the version in setup.py):
#     docker build -t retrain:0.1.0 .
# - `torch`: the PyTorch steps (TorchTrainer, TorchEvaluator); `kubeflow.torch_image`
#   (default `retrain-torch:0.1.0`), which the compiler sets on those steps only:
#     docker build --build-arg IMAGE_VARIANT=torch -t retrain-torch:0.1.0 .
# then `docker tag retrain:0.1.0 REGISTRY/retrain:0.1.0 && docker push REGISTRY/retrain:0.1.0`
# (and the same for retrain-torch). Never `latest`.
#
# Both install requirements.lock as `make install` does (--no-deps: the lock is the complete,
# resolved set). Why two: TensorFlow 2.16's GPU libraries (its `and-cuda` extra) pin cuDNN 8.9
# (nvidia-cudnn-cu12 8.9.*), while the CUDA builds of current PyTorch need cuDNN 9; one Python
# environment cannot hold both.
# - `tf`: the CUDA 12.3 base (what TensorFlow 2.16 is built against) plus TensorFlow's
#   `and-cuda` libraries, resolved under the lock as constraints; PyTorch is the lock's CPU build.
# - `torch`: the lock without its CPU torch and without TensorFlow's `and-cuda` (TensorFlow runs
#   on the CPU there: these steps use it only for TFX I/O and TFRecords), plus PyTorch's CUDA
#   build from requirements-torch.txt, resolved with the lock as constraints (pip adds only
#   torch's CUDA libraries).
# The base is pinned by tag; pin it by digest too with
#   --build-arg CUDA_IMAGE=nvidia/cuda:12.3.2-base-ubuntu22.04@sha256:DIGEST
# (DIGEST from `docker buildx imagetools inspect nvidia/cuda:12.3.2-base-ubuntu22.04`).
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
ARG IMAGE_VARIANT=tf
COPY requirements.lock requirements-torch.txt ./
# tf: torch==…+cpu comes from PyTorch's CPU index; `wheel` is for building retrain below.
RUN case "$IMAGE_VARIANT" in \
      tf) pip install --no-deps --ignore-requires-python --extra-index-url https://download.pytorch.org/whl/cpu \
              -r requirements.lock wheel \
          && pip install --constraint requirements.lock "tensorflow[and-cuda]==2.16.2" ;; \
      torch) grep -v '^torch==' requirements.lock > requirements-without-torch.lock \
          && pip install --no-deps --ignore-requires-python -r requirements-without-torch.lock wheel \
          && pip install --constraint requirements-without-torch.lock -r requirements-torch.txt ;; \
      *) echo "IMAGE_VARIANT must be tf or torch, not $IMAGE_VARIANT" >&2; exit 1 ;; \
    esac

# retrain itself (components/ and pipelines/ are what the steps import).
COPY pyproject.toml setup.py README.md ./
COPY components ./components
COPY pipelines ./pipelines
RUN pip install --no-deps --no-build-isolation .

# The built-in example's data and backbone where compiled pipelines look for them
# (`kubeflow.data_root`, default /opt/retrain/examples).
RUN python -c "from pathlib import Path; from retrain.components.digits_example.prepare import prepare_digits_example; prepare_digits_example(Path('/opt/retrain/examples/digits'), 'image', 'label')"
RUN python -c "from pathlib import Path; from retrain.components.emoji_example.prepare import prepare_emoji_example; prepare_emoji_example(Path('/opt/retrain/examples/emoji'))"
# The named backbones (`backbone.name`), converted into the cache that compiled pipelines point at (kubeflow.data_root).
RUN RETRAIN_CACHE=/opt/retrain/examples python -c "from retrain.components.backbones.cache import resolve_backbone; from retrain.components.backbones.registry import backbone_names; [resolve_backbone(name) for name in backbone_names()]"

# Non-root: uid/gid 1000 (numeric, so `runAsNonRoot` can verify it), as the CronJob's
# securityContext expects; no setuid/setgid binaries, so nothing in the image can gain
# privileges even where a pod allows privilege escalation (KFP's step pods carry no
# securityContext: see kubernetes/README.md, "Security").
RUN groupadd --gid 1000 retrain \
 && useradd --uid 1000 --gid 1000 --create-home --home-dir /home/retrain retrain \
 && find / -xdev -type f -perm /6000 -exec chmod a-s {} +
USER 1000:1000
WORKDIR /home/retrain
ENV HOME=/home/retrain
ENTRYPOINT []
CMD ["retrain", "--help"]
