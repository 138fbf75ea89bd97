"""What happens to each simulated patient: the facts the territory reports, with dates.

Every share is a parameter (``Parameters``); the defaults follow the national
figures quoted in shared/PROTOCOLS.md (HAS 2022 for COPD, the Assurance
Maladie baseline for heart failure) where there is one, and a stated guess
where there is none. Pure: a seeded ``random.Random`` in, the same facts out.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass, field

from simulator.territory import HOSPITALS, Patient, Territory, make_patient

UTC = dt.UTC


@dataclass(frozen=True)
class Timeliness:
    """Share done inside the window, share done late; the rest is never done."""

    on_time: float
    late: float = 0.1


@dataclass(frozen=True)
class Parameters:
    # case mix, per 100 patients
    heart_failure: float = 0.45
    copd: float = 0.35
    gestational_diabetes: float = 0.20
    # heart failure (Assurance Maladie: 2/3 see no cardiologist, 14 % no GP within 2 months)
    hf_gp_7d: Timeliness = Timeliness(0.55, 0.31)
    hf_bloods_7d: Timeliness = Timeliness(0.60, 0.20)
    hf_cardiology_30_60: Timeliness = Timeliness(0.28, 0.06)
    hf_nursing_visit: Timeliness = Timeliness(0.75, 0.05)
    hf_death_90d: float = 0.08
    hf_readmission_30d: float = 0.18
    hf_weight_gain: float = 0.05  # a > 2 kg gain within 3 days during the visits
    # COPD after an exacerbation (HAS 2022 national results)
    copd_gp_7d: Timeliness = Timeliness(0.419, 0.25)
    copd_pulmonology_60d: Timeliness = Timeliness(0.309, 0.10)
    copd_bronchodilator_90d: Timeliness = Timeliness(0.74, 0.05)
    copd_rehabilitation_90d: Timeliness = Timeliness(0.311, 0.05)
    copd_nurse_education: Timeliness = Timeliness(0.70, 0.05)
    copd_gp_second: Timeliness = Timeliness(0.50, 0.10)
    copd_flu_vaccination: float = 0.527
    copd_spirometry_year: float = 0.342
    copd_death_90d: float = 0.05
    copd_readmission_30d: float = 0.15
    # gestational diabetes
    gd_education_7d: Timeliness = Timeliness(0.80, 0.10)
    gd_review: Timeliness = Timeliness(0.70, 0.10)
    gd_above_target: float = 0.25
    gd_insulin_decision: Timeliness = Timeliness(0.80, 0.10)
    gd_postpartum_test: Timeliness = Timeliness(0.50, 0.10)


@dataclass(frozen=True)
class Fact:
    at: dt.datetime
    body: dict = field(hash=False)


def _id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _iso(t: dt.datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _at(day: dt.datetime, rng: random.Random) -> dt.datetime:
    """A working-hours instant on ``day`` (08:00-18:00 UTC)."""
    return day.replace(hour=8, minute=0, second=0, microsecond=0) + dt.timedelta(
        minutes=rng.randrange(600)
    )


def _when(
    rng: random.Random, d0: dt.datetime, t: Timeliness, first: int, last: int, late_by: int = 30
) -> dt.datetime | None:
    """A day inside (first..last days after d0), after it (late), or None (never)."""
    roll = rng.random()
    if roll < t.on_time:
        return _at(d0 + dt.timedelta(days=rng.randint(first, last)), rng)
    if roll < t.on_time + t.late:
        return _at(d0 + dt.timedelta(days=rng.randint(last + 1, last + late_by)), rng)
    return None


class Plan:
    """Collects the facts of one patient; nothing after a death is reported."""

    def __init__(self, patient: Patient, rng: random.Random) -> None:
        self.patient, self.rng = patient, rng
        self.facts: list[Fact] = []
        self.died_at: dt.datetime | None = None

    def add(self, at: dt.datetime | None, type_: str, **fields: object) -> None:
        if at is None or (self.died_at is not None and at >= self.died_at):
            return
        body = {"type": type_, "event_id": _id(self.rng), "patient": self.patient.identity()}
        body.update({k: _iso(v) if isinstance(v, dt.datetime) else v for k, v in fields.items()})
        self.facts.append(Fact(at, body))

    def consultation(
        self, at: dt.datetime | None, role: str, pro: str, specialty: str | None = None
    ) -> None:
        extra = {"specialty": specialty} if specialty else {}
        self.add(at, "ConsultationReported", consulted_at=at, role=role, rpps=pro, **extra)


def _discharge(
    plan: Plan, d0: dt.datetime, codes: list[str], admitted: dt.datetime | None = None
) -> None:
    rng, gp = plan.rng, plan.patient.gp
    plan.add(
        d0,
        "DischargeReported",
        admitted_at=admitted or d0 - dt.timedelta(days=rng.randint(4, 12)),
        discharged_at=d0,
        diagnoses=codes,
        finess=rng.choice(HOSPITALS),
        care_team=[{"role": "gp", "rpps": gp}] if gp else [],
    )


def _stop_events(
    plan: Plan, d0: dt.datetime, codes: list[str], death: float, readmission: float
) -> None:
    """A readmission (and the discharge that follows it), then maybe a death."""
    rng = plan.rng
    if rng.random() < readmission:
        back = _at(d0 + dt.timedelta(days=rng.randint(3, 30)), rng)
        plan.add(
            back,
            "ReadmissionReported",
            admitted_at=back,
            finess=rng.choice(HOSPITALS),
            diagnoses=codes,
        )
        _discharge(
            plan, _at(back + dt.timedelta(days=rng.randint(4, 12)), rng), codes, admitted=back
        )
    if rng.random() < death:
        died = _at(d0 + dt.timedelta(days=rng.randint(2, 90)), rng)
        plan.add(died, "DeathReported", died_at=died)
        plan.died_at = died


def heart_failure(plan: Plan, d0: dt.datetime, t: Territory, p: Parameters) -> None:
    rng, patient = plan.rng, plan.patient
    codes = [rng.choice(["I50.0", "I50.1", "I50.9", "I11.0"])]
    _discharge(plan, d0, codes)
    _stop_events(plan, d0, codes, p.hf_death_90d, p.hf_readmission_30d)
    gp = patient.gp or rng.choice(t.of_role("gp")).rpps
    plan.consultation(_when(rng, d0, p.hf_gp_7d, 1, 7), "gp", gp)
    bloods = _when(rng, d0, p.hf_bloods_7d, 1, 7)
    lab = rng.choice(t.of_role("lab")).rpps
    for loinc, value, unit in (
        ("2160-0", 110.0, "umol/L"),
        ("2823-3", 4.4, "mmol/L"),
        ("2951-2", 138.0, "mmol/L"),
    ):
        plan.add(
            bloods,
            "LabResultReported",
            collected_at=bloods,
            loinc=loinc,
            value=value,
            unit=unit,
            lab=lab,
        )
    nurse = rng.choice(t.of_role("nurse")).rpps
    weight = round(rng.uniform(60, 95), 1)
    gain = rng.random() < p.hf_weight_gain
    for week in range(8):
        for first, last in ((1, 3), (4, 7)):
            day = _when(rng, d0, p.hf_nursing_visit, week * 7 + first, week * 7 + last, late_by=2)
            if gain and week == 3 and first == 4:
                weight += 2.6
            plan.add(day, "NursingVisitReported", visited_at=day, rpps=nurse, weight_kg=round(weight, 1),
                     systolic_mmhg=rng.randint(105, 145), heart_rate_bpm=rng.randint(60, 95))  # fmt: skip
    cardio = rng.choice(t.of_role("cardiologist")).rpps
    plan.consultation(
        _when(rng, d0, p.hf_cardiology_30_60, 30, 60), "cardiologist", cardio, "cardiology"
    )


def copd(plan: Plan, d0: dt.datetime, t: Territory, p: Parameters) -> None:
    rng, patient = plan.rng, plan.patient
    codes = [rng.choice(["J44.0", "J44.1"])]
    _discharge(plan, d0, codes)
    _stop_events(plan, d0, codes, p.copd_death_90d, p.copd_readmission_30d)
    gp = patient.gp or rng.choice(t.of_role("gp")).rpps
    plan.consultation(_when(rng, d0, p.copd_gp_7d, 1, 7), "gp", gp)
    pulmo = rng.choice(t.of_role("pulmonologist")).rpps
    plan.consultation(
        _when(rng, d0, p.copd_pulmonology_60d, 8, 60), "pulmonologist", pulmo, "pneumology"
    )
    when = _when(rng, d0, p.copd_bronchodilator_90d, 1, 90)
    plan.add(when, "DispensingReported", dispensed_at=when, atc=rng.choice(["R03AC12", "R03BB04", "R03AL03"]),
             rpps=rng.choice(t.of_role("pharmacist")).rpps)  # fmt: skip
    when = _when(rng, d0, p.copd_rehabilitation_90d, 10, 90)
    plan.add(
        when,
        "RehabilitationStarted",
        started_at=when,
        rpps=rng.choice(t.of_role("physiotherapist")).rpps,
    )
    nurse = rng.choice(t.of_role("nurse")).rpps
    for week in range(8):
        day = _when(rng, d0, p.copd_nurse_education, week * 7 + 1, week * 7 + 7, late_by=2)
        plan.add(day, "NursingVisitReported", visited_at=day, rpps=nurse, education=True)
    plan.consultation(_when(rng, d0, p.copd_gp_second, 45, 75), "gp", gp)
    if rng.random() < p.copd_flu_vaccination:
        day = _at(d0 + dt.timedelta(days=rng.randint(1, 120)), rng)
        plan.add(day, "VaccinationReported", vaccinated_at=day, vaccine="influenza")
    if rng.random() < p.copd_spirometry_year:
        day = _at(d0 + dt.timedelta(days=rng.randint(30, 300)), rng)
        plan.add(day, "LabResultReported", collected_at=day, loinc="20150-9", value=1.6, unit="L")


def gestational_diabetes(plan: Plan, d0: dt.datetime, t: Territory, p: Parameters) -> None:
    rng = plan.rng
    delivery_expected = (d0 + dt.timedelta(days=rng.randint(80, 110))).date()
    plan.add(d0, "GlucoseToleranceTestReported", tested_at=d0, fasting_g_l=round(rng.uniform(0.92, 1.1), 2),
             one_hour_g_l=round(rng.uniform(1.5, 2.1), 2), two_hour_g_l=round(rng.uniform(1.3, 1.8), 2),
             expected_delivery=delivery_expected.isoformat())  # fmt: skip
    dietitian = rng.choice(t.of_role("dietitian")).rpps
    education = _when(rng, d0, p.gd_education_7d, 1, 7)
    plan.consultation(education, "dietitian", dietitian)
    delivered = _at(
        dt.datetime.combine(delivery_expected, dt.time(), UTC)
        + dt.timedelta(days=rng.randint(-10, 5)),
        rng,
    )
    gp = plan.patient.gp or rng.choice(t.of_role("gp")).rpps
    midwife = rng.choice(t.of_role("midwife")).rpps
    review, k = d0 + dt.timedelta(days=8), 0
    while review < delivered:
        day = _when(rng, review, p.gd_review, 0, 14, late_by=3)
        if day is not None and day < delivered:
            plan.consultation(day, "gp" if k % 2 == 0 else "midwife", gp if k % 2 == 0 else midwife)
        review += dt.timedelta(days=15)
        k += 1
    if education is not None and rng.random() < p.gd_above_target:
        start = education.date() + dt.timedelta(days=1)
        end = start + dt.timedelta(days=9)
        plan.add(_at(dt.datetime.combine(end, dt.time(), UTC), rng), "SelfMonitoringReported",
                 period_start=start.isoformat(), period_end=end.isoformat(), readings=40, above_target=14)  # fmt: skip
        endo = rng.choice(t.of_role("endocrinologist")).rpps
        decided = _when(rng, dt.datetime.combine(end, dt.time(), UTC), p.gd_insulin_decision, 1, 3)
        plan.consultation(decided, "endocrinologist", endo, "endocrinology")
    plan.add(delivered, "DeliveryReported", delivered_at=delivered)
    test = _when(rng, delivered, p.gd_postpartum_test, 29, 84)
    plan.add(test, "LabResultReported", collected_at=test, loinc="1558-6", value=0.88, unit="g/L")


def simulate(
    territory: Territory,
    *,
    patients: int,
    start: dt.datetime,
    days: int,
    seed: int,
    params: Parameters = Parameters(),
    first_patient: int = 0,
) -> list[Fact]:
    """Every fact of every simulated patient, in time order, ending before start + days."""
    rng = random.Random(seed)
    end = start + dt.timedelta(days=days)
    facts: list[Fact] = []
    for n in range(first_patient, first_patient + patients):
        roll = rng.random()
        if roll < params.heart_failure:
            kind, sex, age = heart_failure, rng.choice("FM"), rng.randint(60, 92)
        elif roll < params.heart_failure + params.copd:
            kind, sex, age = copd, rng.choice("FM"), rng.randint(50, 85)
        else:
            kind, sex, age = gestational_diabetes, "F", rng.randint(22, 42)
        patient = make_patient(n, territory, rng, sex=sex, age=age, today=start.date())
        plan = Plan(patient, rng)
        d0 = _at(start + dt.timedelta(days=rng.randrange(max(1, days - 1))), rng)
        kind(plan, d0, territory, params)
        facts += [f for f in plan.facts if f.at < end]
    facts.sort(key=lambda f: (f.at, f.body["event_id"]))
    return facts
