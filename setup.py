"""retrain: transfer-learning and retraining pipelines on TFX and Kubeflow."""
from setuptools import find_packages, setup

setup(
    name="retrain",
    version="0.1.0",
    description="Transfer-learning and retraining pipelines on TFX and Kubeflow",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",
    # One namespace, `retrain`, whose two halves are the top-level folders: `retrain.pipelines` is
    # pipelines/, `retrain.components` is components/ (no top-level `pipelines` or `components` is installed).
    packages=[f"retrain.{package}" for package in find_packages(include=["pipelines", "pipelines.*", "components", "components.*"])],
    package_dir={"retrain.pipelines": "pipelines", "retrain.components": "components"},
    # The exact, tested set is requirements.lock (installed by `make install`);
    # these ranges document what the code needs. tfx 1.16 declares Python <3.11
    # although it runs on 3.11, so the Makefile installs it with --ignore-requires-python.
    install_requires=[
        "tfx>=1.16,<1.17",
        "tensorflow>=2.16,<2.17",
        "tf-keras>=2.16,<2.17",
        "tensorflow-hub>=0.16.1,<0.17",
        "tensorflow-transform>=1.16,<1.17",
        "tensorflow-model-analysis>=0.47,<0.48",
        "apache-beam[gcp]>=2.61,<2.62",
        "kfp>=2.12,<2.13",
        "kfp-kubernetes>=1.5,<1.6",
        "torch>=2.13,<2.14",
        "pydantic>=2.7,<3",
        "pyyaml>=6,<7",
        "boto3>=1.34,<2",
        "google-cloud-storage>=2.14,<3",
        "google-crc32c>=1.5,<2",
        "scikit-learn>=1.5,<1.6",
        "setuptools<80",
    ],
    extras_require={"test": ["pytest>=8"]},
    entry_points={"console_scripts": ["retrain=retrain.pipelines.cli:main"]},
)
