"""The context-lift evaluation: does GMGBD's context help a vision-language model name the species?"""
