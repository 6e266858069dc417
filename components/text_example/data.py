"""The built-in text example's data: short customer-support messages in four intents.

Hand-written requests, wrapped in a few greetings and sign-offs. The training
requests and the evaluation requests are different sentences with mostly different
wording (e.g. "charged twice" in training, "billed two times" in evaluation), so a
classifier only does well on the eval split if its encoder knows what words mean:
a pretrained encoder transfers, the same architecture from scratch barely can.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

LABELS = ("billing", "delivery", "technical", "account")

TRAIN_REQUESTS: dict[str, tuple[str, ...]] = {
    "billing": (
        "I was charged twice for the same order",
        "Please refund the payment for my cancelled subscription",
        "There is an extra fee on my invoice that I did not agree to",
        "My credit card was debited but the purchase failed",
        "Can I get my money back for the item I returned",
        "The price on my receipt is higher than the one on your website",
        "Why did my monthly plan cost more this month",
        "I need a copy of the invoice for my last payment",
        "The discount code was not applied at checkout",
        "You took the payment again after I cancelled",
    ),
    "delivery": (
        "My parcel has not arrived yet",
        "The courier left the package at the wrong address",
        "Tracking has shown no update for a week",
        "The box arrived crushed and half of it was missing",
        "When will my order be shipped",
        "I received someone else's package instead of mine",
        "The delivery was marked as done but nothing came",
        "Can you send the order to my office instead of my home",
        "The shipment is stuck at customs",
        "My order came three weeks late",
    ),
    "technical": (
        "The app crashes every time I open it",
        "The screen flickers after the latest update",
        "The blender stopped working after two days",
        "I get an error message when I try to upload a file",
        "The device will not turn on even when charged",
        "The website is extremely slow and pages do not load",
        "Bluetooth keeps disconnecting from my phone",
        "The printer shows a paper jam but there is no paper stuck",
        "The software freezes when I export a report",
        "The battery drains within an hour",
    ),
    "account": (
        "I cannot log in to my account",
        "How do I change my password",
        "Please delete my profile and all my personal data",
        "I never received the verification email",
        "Someone else has access to my account",
        "I want to update the email address on my profile",
        "My account was locked after too many attempts",
        "How can I change my username",
        "The two-factor code never arrives on my phone",
        "Please merge my two accounts into one",
    ),
}

EVAL_REQUESTS: dict[str, tuple[str, ...]] = {
    "billing": (
        "I have been billed two times for a single purchase",
        "I would like a reimbursement for the membership I ended",
        "What is this additional charge on my bill",
        "Money left my bank account although the transaction was declined",
        "Return processed weeks ago and still no credit to my card",
        "I paid more than the advertised cost",
        "My yearly renewal was more expensive than expected",
        "Could you email me a receipt for the last transaction",
        "The promo voucher did not reduce the total",
        "I was billed after terminating my membership",
        "Please explain the charges on my statement",
        "I want a refund, the product was never used",
    ),
    "delivery": (
        "The package still has not shown up",
        "The driver dropped my parcel at my neighbour's house by mistake",
        "The shipping status has been stuck for days",
        "The carton was damaged in transit and items are missing",
        "Has my purchase been dispatched yet",
        "The parcel I got contains another customer's items",
        "It says delivered but I found nothing at my door",
        "Please redirect my shipment to a different address",
        "My order is being held by the postal service",
        "The courier is very late with my shipment",
        "How long does shipping to Canada take",
        "The wrong size was sent to me",
    ),
    "technical": (
        "The application closes on launch",
        "The display glitches since I installed the new firmware",
        "My coffee machine broke after a few uses",
        "Uploading documents fails with an error",
        "The laptop does not power up",
        "Your site takes forever to respond",
        "The headphones lose their connection all the time",
        "The scanner reports an error and will not scan",
        "The program hangs whenever I save my work",
        "The charger gets hot and the phone will not charge",
        "The camera shows a black screen",
        "After the upgrade nothing works anymore",
    ),
    "account": (
        "I am unable to sign in",
        "I forgot my password and need to reset it",
        "Remove my user profile and erase my information",
        "The confirmation link never reached my inbox",
        "I think my account was hacked",
        "Please change the contact e-mail for my user",
        "I am locked out of my profile",
        "Can I pick a different display name",
        "The security code for login is not being sent",
        "I accidentally created a second account",
        "How do I close my membership account",
        "My login stopped working this morning",
    ),
}

GREETINGS = ("", "Hi, ", "Hello, ", "Good morning. ", "Hi team, ", "Dear support, ")
SIGN_OFFS = ("", " Thanks.", " Please help.", " Can you help?", " Thank you in advance.", " Regards, Sam")


@dataclass(frozen=True)
class LabelledTexts:
    """Messages and their intent labels, in the same order."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]


def _messages(requests: dict[str, tuple[str, ...]], seed: int) -> LabelledTexts:
    rng = random.Random(seed)
    rows = [
        (f"{rng.choice(GREETINGS)}{request}{rng.choice(('.', '!', '?', ''))}{rng.choice(SIGN_OFFS)}".strip(), label)
        for label in LABELS
        for request in requests[label]
    ]
    rng.shuffle(rows)
    return LabelledTexts(tuple(text for text, _ in rows), tuple(label for _, label in rows))


def train_messages(seed: int = 0) -> LabelledTexts:
    """One message per training request: 10 per intent."""
    return _messages(TRAIN_REQUESTS, seed)


def eval_messages(seed: int = 1) -> LabelledTexts:
    """One message per evaluation request: 12 per intent, worded differently from training."""
    return _messages(EVAL_REQUESTS, seed)


def write_csv(messages: LabelledTexts, path: Path, text_column: str, label_column: str) -> None:
    """Writes a CSV with a header `text_column,label_column`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([text_column, label_column])
        writer.writerows(zip(messages.texts, messages.labels))
