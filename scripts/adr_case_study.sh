#!/usr/bin/env bash
# The robotics case study on CartPole (torch backend): PPO without randomisation, with manual domain
# randomisation (fixed ranges) and with ADR over pole length, pole mass and force, the last two with
# observation noise; then a robustness map of every policy on a grid of pole length x force.
# All three share one PPO setting and budget. gamma 0.999: a cart that creeps toward the track's
# edge fails hundreds of steps later, too far ahead for gamma 0.99 to see; normalised rewards keep
# the values (up to 1 / (1 - gamma) = 1000) from swamping the shared gradient-norm clip; 128-step
# rollouts (N = 8192 over 64 envs) average each update over more episodes of varied dynamics.
#
# VARIANT=handpicked (the default) is the paper's comparison: manual DR draws from ranges a person
# picks by hand, half to one and a half times each nominal value (the scale of the hand-set
# randomisations in OpenAI's earlier in-hand work), while ADR grows on its own within generous,
# physically plausible limits chosen without looking at the grid (half-length 0.1-5 m: a 20 cm
# pencil to a 10 m pole; pole mass 0.01-1 kg: a tenth of nominal up to the cart's own mass; force
# 2-30 N: a weak motor to three times nominal; steps about a tenth of each span). VARIANT=generous
# gives manual DR those same limits, drawn uniformly from the start: the same knowledge for both.
# VARIANT=oracle gives both ranges equal to the test grid (length 0.25-2.5, pole mass 0.05-0.5,
# force 5-20). ADR widens a boundary only where the policy is near perfect (a mean of 490 of 500
# over m = 5 episodes) and narrows it at 400 or below: with 450 and 250 the policy trained at the
# edge of what it could do, scoring about 450 there, and was weaker inside its own ranges (long
# poles).
#
# CASE=Pendulum runs the same three ways on Pendulum (its tuned PPO settings, torch backend) over the
# pendulum's mass m and length l (nominal 1 and 1): manual DR picked by hand at 0.5-1.5 each, ADR
# within 0.2-4 each in steps of 0.2 (t_L = -600, t_H = -250), mapped on m x l from 0.5 to 2
# (solved: a mean return of -300 or more); VARIANT is for CartPole only.
#
#   [CASE=CartPole|Pendulum] [VARIANT=handpicked|generous|oracle] bash scripts/adr_case_study.sh OUT_DIR [STEPS] [SEEDS]
#        (defaults: CartPole, handpicked, 1000000 steps (Pendulum: 300000), seeds "0 1 2")
set -euo pipefail
out=${1:?usage: [CASE=CartPole|Pendulum] [VARIANT=handpicked|generous|oracle] adr_case_study.sh OUT_DIR [STEPS] [SEEDS]}
seeds=${3:-0 1 2}
noise=(env.obs_noise.correlated=0.01 env.obs_noise.uncorrelated=0.01)
case ${CASE:-CartPole} in
  CartPole)
    steps=${2:-1000000}
    variant=${VARIANT:-handpicked}
    case $variant in
      oracle) length=0.25,2.5 masspole=0.05,0.5 force=5,20 deltas=(0.25 0.05 2) ;;
      generous|handpicked) length=0.1,5 masspole=0.01,1.0 force=2,30 deltas=(0.5 0.1 3) ;;
      *) echo "VARIANT: must be handpicked, generous or oracle, got '$variant'" >&2; exit 2 ;;
    esac
    manual_length=$length manual_masspole=$masspole manual_force=$force
    if [ "$variant" = handpicked ]; then  # nominal 0.5, 0.1, 10, each times 0.5-1.5
      manual_length=0.25,0.75 manual_masspole=0.05,0.15 manual_force=5,15
    fi
    ppo=(algo=ppo env=CartPole env.backend=torch env.num_envs=64 algo.N=8192 algo.K=4 algo.S=16 algo.lr=0.02
         'algo.hidden=[32,32]' algo.gae_lambda=0.9 algo.gamma=0.999 algo.normalize_reward=true
         total_steps="$steps" eval.every=50000 progress=false)
    manual=("+env.randomize.length=[$manual_length]" "+env.randomize.masspole=[$manual_masspole]"
            "+env.randomize.force_mag=[$manual_force]")
    adr=('env.adr.params=[length,masspole,force_mag]' env.adr.t_low=400 env.adr.t_high=490 env.adr.buffer=5
         "+env.adr.limits.length=[$length]" "+env.adr.limits.masspole=[$masspole]"
         "+env.adr.limits.force_mag=[$force]" "+env.adr.deltas.length=${deltas[0]}"
         "+env.adr.deltas.masspole=${deltas[1]}" "+env.adr.deltas.force_mag=${deltas[2]}")
    grid=(grid.length=0.25:2.5:10 grid.force_mag=5:20:10 episodes=10) ;;
  Pendulum)
    steps=${2:-300000}
    ppo=(algo=ppo env=Pendulum env.backend=torch total_steps="$steps" eval.every=50000 progress=false)
    manual=("+env.randomize.m=[0.5,1.5]" "+env.randomize.l=[0.5,1.5]")
    adr=('env.adr.params=[m,l]' env.adr.t_low=-600 env.adr.t_high=-250 env.adr.buffer=5
         "+env.adr.limits.m=[0.2,4]" "+env.adr.limits.l=[0.2,4]" "+env.adr.deltas.m=0.2" "+env.adr.deltas.l=0.2")
    grid=(grid.m=0.5:2.0:7 grid.l=0.5:2.0:7 episodes=5 solved=-300) ;;
  *) echo "CASE: must be CartPole or Pendulum, got '$CASE'" >&2; exit 2 ;;
esac
runs=()
for seed in $seeds; do
  rlrun train "${ppo[@]}" seed="$seed" hydra.run.dir="$out/nodr-s$seed"
  rlrun train "${ppo[@]}" "${noise[@]}" "${manual[@]}" seed="$seed" hydra.run.dir="$out/manual-s$seed"
  rlrun train "${ppo[@]}" "${noise[@]}" "${adr[@]}" seed="$seed" hydra.run.dir="$out/adr-s$seed"
  runs+=("$out/nodr-s$seed" "$out/manual-s$seed" "$out/adr-s$seed")
done
# every policy on the same clean sensors, so that the map shows the dynamics alone
rlrun eval "${runs[@]}" "${grid[@]}" env.obs_noise.correlated=0 env.obs_noise.uncorrelated=0 out="$out/maps"
