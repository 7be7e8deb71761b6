"""SuPreME on the Hugging Face stack (work in progress: registration is added with the model)."""
from .configuration_supreme import SupremeConfig
