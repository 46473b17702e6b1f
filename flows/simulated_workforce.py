"""The simulated workforce as a deployment of its own: it outlives the `annoflow run` that
started it. Each run is a burst of work (every simulated expert signs in, takes what the
queue serves, submits as itself) of at most ``burst_s``; the schedule starts the next, so
a killed worker only pauses the experts until the services are back."""
from __future__ import annotations

import time

from prefect import flow

from annoflow.errors import CampaignBusy
from tasks.locks import TICK_WAIT_S, campaign_lock
from tasks.operations import load_campaign
from tasks.stages import STOPPED, halted, slot_deadline
from simulation.workforce import SimulatedWorkforce, SimulationProfile


@flow(name="simulated-workforce", flow_run_name="{request_id}", validate_parameters=False)
def simulated_workforce(request_id: str, profile: dict, burst_s: float = 30.0) -> dict:
    """One burst of simulated expert work on the campaign."""
    stopped = halted(request_id)
    if stopped:
        return {"request_id": request_id, "submitted": 0, "skipped": stopped}
    try:
        with campaign_lock(request_id, kind="simulation", wait_s=TICK_WAIT_S):
            camp = load_campaign(request_id)
            if camp.stage in STOPPED:
                return {"request_id": request_id, "submitted": 0, "skipped": camp.stage}
            sim = SimulatedWorkforce(camp.spec, SimulationProfile.model_validate(profile)).start()
            deadline = slot_deadline(burst_s)
            while time.monotonic() < deadline and sim.error is None and sim.running:
                time.sleep(0.5)
            sim.stop()
            if sim.error is not None:
                raise sim.error
            return {"request_id": request_id, "submitted": sim.submitted}
    except CampaignBusy:
        return {"request_id": request_id, "submitted": 0, "skipped": "another burst is running"}
