"""Networks: the recurrent agent, the mixers and the QMIX policy that holds them."""

from sb3_marl.policies.agents import RNNAgent
from sb3_marl.policies.mixers import QMixer, VDNMixer
from sb3_marl.policies.qmix_policy import QMIXPolicy

__all__ = ["QMIXPolicy", "QMixer", "RNNAgent", "VDNMixer"]
