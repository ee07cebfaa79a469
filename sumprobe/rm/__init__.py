"""The reward model of "Learning to summarize from human feedback" (Stiennon et al. 2020): a
scalar head on a pretrained model, trained on labelers' comparisons with the loss
-log sigmoid(r(x, y_chosen) - r(x, y_rejected)).

inputs.py    the input text (Stiennon's form) and its cut to the model's window
config.py    RMConfig: every setting of `rm-train`, one field each
items.py     the comparisons loaded, split by post, limited and tokenised
train.py     training through trl's RewardTrainer inside the run scaffold (`sumprobe.trainers`)
pairs.py     which pairs it trained on and which it was judged on, kept with the run
model.py     loading and saving a trained reward model with its normalisation
evaluate.py  pairwise accuracy on held-out comparisons, by post, confidence, policy, data set
"""
