"""ORM tables, one module per resource: its table and the tables owned by it (a job and its
events, a blob and its chunks, a compiled model and its files). Importing this package registers
them all."""

from tinymlaas.models.base_weights import BaseWeights
from tinymlaas.models.blob import Blob, BlobChunk
from tinymlaas.models.bridge import Bridge
from tinymlaas.models.capture_rule import CaptureRule
from tinymlaas.models.compiled_model import CompiledFile, CompiledModel
from tinymlaas.models.dataset import Dataset
from tinymlaas.models.dataset_version import DatasetVersion, DatasetVersionImage
from tinymlaas.models.device import Device
from tinymlaas.models.device_capture import DeviceCapture
from tinymlaas.models.device_test import DeviceTest
from tinymlaas.models.folder import Folder
from tinymlaas.models.image import Image
from tinymlaas.models.installation import Installation
from tinymlaas.models.job import Job, JobEvent
from tinymlaas.models.login_failure import LoginFailure
from tinymlaas.models.observation import Observation
from tinymlaas.models.observation_hour import ObservationHour
from tinymlaas.models.review_capture_hour import ReviewCaptureHour
from tinymlaas.models.review_item import ReviewItem
from tinymlaas.models.search import Search, SearchCandidate
from tinymlaas.models.trained_model import TrainedModel
from tinymlaas.models.user import User

__all__ = [
    "BaseWeights",
    "Blob",
    "BlobChunk",
    "Bridge",
    "CaptureRule",
    "CompiledFile",
    "CompiledModel",
    "Dataset",
    "DatasetVersion",
    "DatasetVersionImage",
    "Device",
    "DeviceCapture",
    "DeviceTest",
    "Folder",
    "Image",
    "Installation",
    "Job",
    "JobEvent",
    "LoginFailure",
    "Observation",
    "ObservationHour",
    "ReviewCaptureHour",
    "ReviewItem",
    "Search",
    "SearchCandidate",
    "TrainedModel",
    "User",
]
