"""A loopback Kubeflow Pipelines v2beta1 API server for tests: the subset `retrain` calls, with state and a request log.

It answers like the real API server where the client depends on it: multipart uploads
whose package must hold a PipelineSpec (schema 2.1.0) and may hold a Kubernetes
PlatformSpec — both parsed strictly with KFP's protos, as the server does —, version names
unique per pipeline, run inputs checked against the spec's root parameters, pipelines
deletable only without versions, bearer-token checks
(401 without the expected token), and error bodies `{"error", "code", "message"}`.

Derived from kubeflow/pipelines at tags 2.4.0 and 2.5.0 (identical there):
- Upload name: the `name` query parameter, else the uploaded file's name
  (backend/src/apiserver/server/pipeline_upload_server.go, `buildPipelineName` in pipeline_server.go).
- Cron triggers: parsed as the API server does before storing a recurring run
  (backend/src/apiserver/server/api_converter.go: `cron.Parse` of github.com/robfig/cron v1.2.0, go.mod),
  ported below from robfig/cron v1.2.0 parser.go: `Second | Minute | Hour | Dom | Month | DowOptional |
  Descriptor`, so 6 fields with seconds (5 also parse, with day-of-week `*`: a trap for 5-field Unix crons,
  which `retrain` refuses locally) or a descriptor (@daily, @every 1h, ...). Periodic intervals >= 1 s.
- Unknown JSON fields: the real server drops them silently (grpc-gateway v1.16.0, runtime/marshal_jsonpb.go:
  `allowUnknownFields = true` unless `DisallowUnknownFields()`, which backend/src/apiserver/main.go never
  calls). The fake refuses them (400), so that a misspelt field in a request of `retrain` fails a test
  instead of being lost on a cluster; the known fields are those of the v2beta1 API models (kfp-server-api).
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, urlsplit

import kfp_server_api.models
import yaml
from google.protobuf import json_format
from kfp.kubernetes import kubernetes_executor_config_pb2
from kfp.pipeline_spec import pipeline_spec_pb2

API = "/apis/v2beta1"


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


ExecutorConfigs = dict[str, kubernetes_executor_config_pb2.KubernetesExecutorConfig]

# robfig/cron v1.2.0 spec.go: the bounds of each field, and the names months and weekdays may use.
_MONTHS = {name: number for number, name in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
_WEEKDAYS = {name: number for number, name in enumerate("sun mon tue wed thu fri sat".split())}
_CRON_BOUNDS = ((0, 59, {}), (0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (0, 6, _WEEKDAYS))
_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_GO_DURATION = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$|^[-+]?0$")


def _cron_int(text: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not re.fullmatch(r"[+-]?\d+", text):  # strconv.Atoi
        raise ValueError(f"Failed to parse int from {text}")
    if int(text) < 0:
        raise ValueError(f"Negative number ({int(text)}) not allowed: {text}")
    return int(text)


def _cron_range(expr: str, low: int, high: int, names: dict[str, int]) -> None:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    if low_and_high[0] in ("*", "?"):
        start, end = low, high
    else:
        start = _cron_int(low_and_high[0], names)
        if len(low_and_high) > 2:
            raise ValueError(f"Too many hyphens: {expr}")
        end = _cron_int(low_and_high[1], names) if len(low_and_high) == 2 else start
    if len(range_and_step) > 2:
        raise ValueError(f"Too many slashes: {expr}")
    step = _cron_int(range_and_step[1], {}) if len(range_and_step) == 2 else 1
    if len(range_and_step) == 2 and len(low_and_high) == 1:
        end = high  # "N/step" means "N-max/step"
    if start < low:
        raise ValueError(f"Beginning of range ({start}) below minimum ({low}): {expr}")
    if end > high:
        raise ValueError(f"End of range ({end}) above maximum ({high}): {expr}")
    if start > end:
        raise ValueError(f"Beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise ValueError(f"Step of range should be a positive number: {expr}")


def robfig_cron_parse(spec: str) -> None:
    """Raises ValueError (robfig/cron v1.2.0's message) where `cron.Parse(spec)` returns an error."""
    if not spec:
        raise ValueError("Empty spec string")
    if spec[0] == "@":
        every = "@every "
        if spec in _DESCRIPTORS or (spec.startswith(every) and _GO_DURATION.match(spec[len(every) :])):
            return
        raise ValueError(f"Unrecognized descriptor: {spec}" if not spec.startswith(every) else f"Failed to parse duration {spec}")
    fields = spec.split()
    if not 5 <= len(fields) <= 6:
        raise ValueError(f"Expected 5 to 6 fields, found {len(fields)}: {spec}")
    for field_text, (low, high, names) in zip([*fields, "*"][:6], _CRON_BOUNDS):
        for expr in (part for part in field_text.split(",") if part):
            _cron_range(expr, low, high, names)


def check_known_fields(body: Any, model: str, where: str = "") -> None:
    """Raises ApiError 400 for a JSON field that the v2beta1 model `model` (kfp-server-api) does not have."""
    if not isinstance(body, dict):
        return
    types: dict[str, str] = getattr(kfp_server_api.models, model).openapi_types
    for key, value in body.items():
        name = re.sub(r"[A-Z]", lambda upper: "_" + upper.group().lower(), key)  # jsonpb also takes lowerCamelCase
        if name not in types:
            raise ApiError(400, f"unknown field {where}{key} in a {model} (the real API server would drop it silently)")
        if hasattr(kfp_server_api.models, types[name]):
            check_known_fields(value, types[name], f"{where}{key}.")


def parse_package(package: bytes) -> tuple[pipeline_spec_pb2.PipelineSpec, ExecutorConfigs]:
    """Reads an upload package like the API server: a PipelineSpec document and an optional PlatformSpec document.

    Returns the spec and the Kubernetes config of each executor (parsed strictly, as kfp-kubernetes defines it).
    """
    spec, executors = None, {}
    for document in yaml.safe_load_all(package):
        if not isinstance(document, dict):
            continue
        if "pipelineInfo" in document and "root" in document:
            spec = json_format.ParseDict(document, pipeline_spec_pb2.PipelineSpec())
            if spec.schema_version != "2.1.0":
                raise ApiError(400, f"KFP only supports schema version 2.1.0, but the pipeline spec has version {spec.schema_version}")
        elif "platforms" in document:
            json_format.ParseDict(document, pipeline_spec_pb2.PlatformSpec())
            configs = document["platforms"].get("kubernetes", {}).get("deploymentSpec", {}).get("executors", {})
            for name, config in configs.items():
                executors[name] = json_format.ParseDict(config, kubernetes_executor_config_pb2.KubernetesExecutorConfig())
    if spec is None:
        raise ApiError(400, "no pipeline spec is provided")
    return spec, executors


@dataclass
class FakeKfpState:
    """What the server holds, by id."""

    pipelines: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    recurring_runs: dict[str, dict[str, Any]] = field(default_factory=dict)


class FakeKfpServer:
    """Serves on 127.0.0.1 (a free port) until `stop()`; use as a context manager.

    token: the bearer token every request must carry (None: no check). deny: answer every
    request with this status (e.g. 403). fail: (method, path regex) pairs answered with 500.
    run_states: the states successive GETs of a run return (the last one repeats).
    answers: (method, path regex, status, body) canned answers that replace the API's (a body
    given as bytes is sent as is, e.g. to stand for a proxy's HTML page or a malformed answer).
    """

    def __init__(
        self,
        token: Optional[str] = None,
        deny: Optional[int] = None,
        fail: tuple[tuple[str, str], ...] = (),
        run_states: tuple[str, ...] = ("SUCCEEDED",),
        answers: tuple[tuple[str, str, int, Any], ...] = (),
    ) -> None:
        self.token, self.deny, self.fail, self.run_states = token, deny, fail, run_states
        self.answers = answers
        self.state = FakeKfpState()
        self.requests: list[Recorded] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.timeout = 5
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "FakeKfpServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def calls(self, method: str, path_regex: str) -> list[Recorded]:
        """Recorded requests with this method whose path (after /apis/v2beta1) matches the regex."""
        return [r for r in self.requests if r.method == method and re.fullmatch(path_regex, r.path.removeprefix(API))]

    def _new_id(self, kind: str) -> str:
        return f"{kind}-{next(self._ids)}"

    # The API

    def handle(self, request: Recorded) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(request)
            if self.deny is not None:
                return self.deny, {"error": "denied", "code": 7, "message": "access denied"}
            if self.token is not None and request.headers.get("authorization") != f"Bearer {self.token}":
                return 401, {"error": "unauthenticated", "code": 16, "message": "missing or wrong bearer token"}
            path = request.path.removeprefix(API)
            for method, pattern, status, body in self.answers:
                if method == request.method and re.fullmatch(pattern, path):
                    return status, body
            if any(method == request.method and re.fullmatch(pattern, path) for method, pattern in self.fail):
                return 500, {"error": "injected failure", "code": 13, "message": "injected failure"}
            for method, pattern, action in self._routes():
                match = re.fullmatch(pattern, path)
                if method == request.method and match:
                    try:
                        return 200, action(request, *match.groups())
                    except ApiError as error:
                        return error.status, {"error": str(error), "code": 3, "message": str(error)}
            return 404, {"error": "no such route", "code": 5, "message": f"{request.method} {request.path}"}

    def _routes(self) -> list[tuple[str, str, Callable[..., dict[str, Any]]]]:
        return [
            ("GET", r"/pipelines", self._list_pipelines),
            ("POST", r"/pipelines/upload", self._upload),
            ("POST", r"/pipelines/upload_version", self._upload_version),
            ("GET", r"/pipelines/([^/]+)/versions", self._list_versions),
            ("DELETE", r"/pipelines/([^/]+)/versions/([^/]+)", self._delete_version),
            ("DELETE", r"/pipelines/([^/]+)", self._delete_pipeline),
            ("GET", r"/experiments", self._list_experiments),
            ("POST", r"/experiments", self._create_experiment),
            ("DELETE", r"/experiments/([^/]+)", self._delete_experiment),
            ("POST", r"/runs", self._create_run),
            ("GET", r"/runs/([^/]+)", self._get_run),
            ("GET", r"/recurringruns", self._list_recurring_runs),
            ("POST", r"/recurringruns", self._create_recurring_run),
            ("DELETE", r"/recurringruns/([^/]+)", self._delete_recurring_run),
        ]

    @staticmethod
    def _matches_filter(item: dict[str, Any], request: Recorded) -> bool:
        for raw in request.query.get("filter", []):
            for predicate in json.loads(raw).get("predicates", []):
                if predicate.get("operation") not in ("EQUALS", 1):
                    raise ApiError(400, f"unsupported filter operation {predicate.get('operation')}")
                value = predicate.get("string_value", predicate.get("stringValue"))
                if item.get(predicate["key"]) != value:
                    return False
        return True

    def _namespace(self, request: Recorded) -> Optional[str]:
        return (request.query.get("namespace") or [None])[0]

    def _list_pipelines(self, request: Recorded) -> dict[str, Any]:
        found = [p for p in self.state.pipelines.values() if self._matches_filter(p, request) and p.get("namespace") == self._namespace(request)]
        return {"pipelines": found, "total_size": len(found)}

    def _uploaded_part(self, request: Recorded) -> tuple[str, bytes]:
        head = f"Content-Type: {request.headers.get('content-type', '')}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == "uploadfile":
                name = part.get_filename() or ""
                if not name.endswith((".yaml", ".yml")):
                    raise ApiError(400, "Unexpected pipeline file format. Support .zip, .tar.gz or YAML.")
                return name, part.get_payload(decode=True)
        raise ApiError(400, "no uploadfile in the multipart body")

    def _add_version(self, pipeline_id: str, name: str, request: Recorded) -> dict[str, Any]:
        try:
            spec, executors = parse_package(self._uploaded_part(request)[1])
        except json_format.ParseError as error:
            raise ApiError(400, f"invalid v2 pipeline spec: {error}") from None
        if any(v["display_name"] == name for v in self.state.versions.values() if v["pipeline_id"] == pipeline_id):
            raise ApiError(409, f"pipeline version {name} already exists")
        version = {"pipeline_id": pipeline_id, "pipeline_version_id": self._new_id("version"), "display_name": name}
        self.state.versions[version["pipeline_version_id"]] = {**version, "spec": spec, "executors": executors, "order": len(self.state.versions)}
        return version

    def _name(self, request: Recorded) -> str:
        """The `name` query parameter, else the uploaded file's name (buildPipelineName)."""
        return (request.query.get("name") or [""])[0] or self._uploaded_part(request)[0]

    def _upload(self, request: Recorded) -> dict[str, Any]:
        name = self._name(request)
        namespace = self._namespace(request)
        if any(p["display_name"] == name and p.get("namespace") == namespace for p in self.state.pipelines.values()):
            raise ApiError(409, f"pipeline {name} already exists")
        pipeline = {"pipeline_id": self._new_id("pipeline"), "display_name": name, "namespace": namespace}
        self._add_version(pipeline["pipeline_id"], name, request)
        self.state.pipelines[pipeline["pipeline_id"]] = pipeline
        return pipeline

    def _upload_version(self, request: Recorded) -> dict[str, Any]:
        pipeline_id = request.query["pipelineid"][0]
        if pipeline_id not in self.state.pipelines:
            raise ApiError(404, f"pipeline {pipeline_id} not found")
        return self._add_version(pipeline_id, self._name(request), request)

    def _list_versions(self, request: Recorded, pipeline_id: str) -> dict[str, Any]:
        versions = sorted((v for v in self.state.versions.values() if v["pipeline_id"] == pipeline_id), key=lambda v: v["order"])
        if request.query.get("sort_by") == ["created_at desc"]:
            versions.reverse()
        size = int(request.query.get("page_size", ["100"])[0])
        public = [{k: v[k] for k in ("pipeline_id", "pipeline_version_id", "display_name")} for v in versions[:size]]
        return {"pipeline_versions": public, "total_size": len(versions)}

    def _delete_version(self, request: Recorded, pipeline_id: str, version_id: str) -> dict[str, Any]:
        if self.state.versions.get(version_id, {}).get("pipeline_id") != pipeline_id:
            raise ApiError(404, f"pipeline version {version_id} not found")
        del self.state.versions[version_id]
        return {}

    def _delete_pipeline(self, request: Recorded, pipeline_id: str) -> dict[str, Any]:
        if pipeline_id not in self.state.pipelines:
            raise ApiError(404, f"pipeline {pipeline_id} not found")
        if any(v["pipeline_id"] == pipeline_id for v in self.state.versions.values()):
            raise ApiError(400, f"pipeline {pipeline_id} still has versions")
        del self.state.pipelines[pipeline_id]
        return {}

    def _list_experiments(self, request: Recorded) -> dict[str, Any]:
        found = [e for e in self.state.experiments.values() if self._matches_filter(e, request) and e.get("namespace") == self._namespace(request)]
        return {"experiments": found, "total_size": len(found)}

    def _create_experiment(self, request: Recorded) -> dict[str, Any]:
        body = request.json()
        check_known_fields(body, "V2beta1Experiment")
        experiment = {"experiment_id": self._new_id("experiment"), "display_name": body["display_name"], "namespace": body.get("namespace")}
        self.state.experiments[experiment["experiment_id"]] = experiment
        return experiment

    def _delete_experiment(self, request: Recorded, experiment_id: str) -> dict[str, Any]:
        if self.state.experiments.pop(experiment_id, None) is None:
            raise ApiError(404, f"experiment {experiment_id} not found")
        return {}

    def _check_reference(self, body: dict[str, Any]) -> None:
        reference = body.get("pipeline_version_reference") or {}
        version = self.state.versions.get(reference.get("pipeline_version_id", ""))
        if version is None or version["pipeline_id"] != reference.get("pipeline_id"):
            raise ApiError(400, "pipeline_version_reference names no uploaded version")
        if body.get("experiment_id") not in self.state.experiments:
            raise ApiError(400, f"experiment {body.get('experiment_id')} not found")
        given = (body.get("runtime_config") or {}).get("parameters") or {}
        for name, parameter in version["spec"].root.input_definitions.parameters.items():
            if name not in given and not parameter.is_optional and not parameter.HasField("default_value"):
                raise ApiError(
                    400, f"invalid pipeline job inputs: parameter {name} is not optional, yet has neither default value nor user provided value"
                )

    def _create_run(self, request: Recorded) -> dict[str, Any]:
        body = request.json()
        check_known_fields(body, "V2beta1Run")
        self._check_reference(body)
        run = {**body, "run_id": self._new_id("run"), "state": "PENDING", "polls": 0}
        self.state.runs[run["run_id"]] = run
        return {k: v for k, v in run.items() if k != "polls"}

    def _get_run(self, request: Recorded, run_id: str) -> dict[str, Any]:
        run = self.state.runs.get(run_id)
        if run is None:
            raise ApiError(404, f"run {run_id} not found")
        run["state"] = self.run_states[min(run["polls"], len(self.run_states) - 1)]
        run["polls"] += 1
        error = {"error": {"code": 2, "message": "step Trainer failed"}} if run["state"] == "FAILED" else {}
        return {**{k: v for k, v in run.items() if k != "polls"}, **error}

    def _list_recurring_runs(self, request: Recorded) -> dict[str, Any]:
        experiment = (request.query.get("experiment_id") or [None])[0]
        found = [r for r in self.state.recurring_runs.values() if self._matches_filter(r, request) and experiment in (None, r["experiment_id"])]
        return {"recurringRuns": found, "total_size": len(found)}

    def _create_recurring_run(self, request: Recorded) -> dict[str, Any]:
        body = request.json()
        check_known_fields(body, "V2beta1RecurringRun")
        trigger = body.get("trigger") or {}  # before the references: toModelJob (api_converter.go) runs before createJob (job_server.go)
        if len([key for key in ("cron_schedule", "periodic_schedule") if key in trigger]) != 1:
            raise ApiError(400, "a recurring run needs exactly one of cron_schedule and periodic_schedule")
        if "cron_schedule" in trigger:
            try:
                robfig_cron_parse(trigger["cron_schedule"].get("cron", ""))
            except ValueError as error:
                raise ApiError(400, f"Schedule cron is not a supported format(https://godoc.org/github.com/robfig/cron). Error: {error}") from None
        elif int(trigger["periodic_schedule"].get("interval_second", 0)) < 1:
            raise ApiError(400, "Found invalid period schedule interval. Set at interval to least 1 second")
        if not 1 <= int(body.get("max_concurrency", 0)) <= 10:
            raise ApiError(400, "max concurrency of a recurring run must be between 1 and 10")
        self._check_reference(body)
        recurring_run = {**body, "recurring_run_id": self._new_id("recurring"), "status": "ENABLED"}
        self.state.recurring_runs[recurring_run["recurring_run_id"]] = recurring_run
        return recurring_run

    def _delete_recurring_run(self, request: Recorded, recurring_run_id: str) -> dict[str, Any]:
        if self.state.recurring_runs.pop(recurring_run_id, None) is None:
            raise ApiError(404, f"recurring run {recurring_run_id} not found")
        return {}


def _handler(server: FakeKfpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 5

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, answer = server.handle(Recorded(self.command, url.path, parse_qs(url.query), headers, body))
            payload = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (quiet: tests read stderr)
            pass

    return Handler
