"""sb3_marl.qmix"""
