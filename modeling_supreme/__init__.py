"""SuPreME on the Hugging Face stack: supervised multimodal ECG pre-training and zero-shot ECG classification.

Importing the package registers the model type `supreme` with `AutoConfig`, `AutoModel`, `AutoFeatureExtractor` and
`AutoProcessor`, and the pipeline task `ecg-zero-shot`.
"""

from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, AutoProcessor
from transformers.pipelines import PIPELINE_REGISTRY

from .configuration_supreme import STANDARD_LEADS, SupremeConfig
from .feature_extraction_supreme import SupremeFeatureExtractor
from .leads_supreme import canonical_lead_name, standardize_leads
from .modeling_supreme import SupremeModel, SupremeOutput
from .pipeline_ecg_zero_shot import EcgZeroShotPipeline
from .processing_supreme import SupremeProcessor
from .reading_supreme import EcgRecord, is_ecg_record, read_ecg

AutoConfig.register(SupremeConfig.model_type, SupremeConfig, exist_ok=True)
AutoModel.register(SupremeConfig, SupremeModel, exist_ok=True)
AutoFeatureExtractor.register(SupremeConfig, SupremeFeatureExtractor, exist_ok=True)
AutoProcessor.register(SupremeConfig, SupremeProcessor, exist_ok=True)
PIPELINE_REGISTRY.register_pipeline(
    "ecg-zero-shot", pipeline_class=EcgZeroShotPipeline, pt_model=AutoModel, type="multimodal"
)

# Saving any of these also writes its code beside the weights, for trust_remote_code users without the package.
SupremeConfig.register_for_auto_class()
SupremeModel.register_for_auto_class("AutoModel")
SupremeFeatureExtractor.register_for_auto_class()
SupremeProcessor.register_for_auto_class()

__all__ = [
    "STANDARD_LEADS",
    "EcgRecord",
    "EcgZeroShotPipeline",
    "SupremeConfig",
    "SupremeFeatureExtractor",
    "SupremeModel",
    "SupremeOutput",
    "SupremeProcessor",
    "canonical_lead_name",
    "is_ecg_record",
    "read_ecg",
    "standardize_leads",
]
