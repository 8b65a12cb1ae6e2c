# ruff: noqa: E501 - one ticket per line reads better than wrapped strings
"""Writes train.jsonl and dev.jsonl for the triage example.

The tickets are hand-written support messages to "Tallybook", a time-tracking and invoicing
service with a mobile app, a web app, a desktop app and an API. Each line of the table below is
one ticket with its labels: category, urgent (yes/no), the customer's plan and the product the
ticket is about. Running this script again rewrites the same two files (the split is a fixed
shuffle).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).parent
SEED = 2024
DEV_SIZE = 32

# category | urgent | plan | product | ticket
TABLE = """
billing | no | pro | web app | I was charged twice for my Pro subscription this month. Please refund the duplicate charge.
billing | no | enterprise | web app | Our invoice lists 45 seats but we only have 38 users. Please correct the invoice and refund the difference.
billing | no | pro | mobile app | Apple charged me again after I cancelled in the iPhone app. I want a refund of that charge.
billing | yes | pro | web app | URGENT: our card was declined, the payment keeps failing and the whole team is stuck. We already updated the card.
billing | no | pro | web app | Can I get an invoice with our VAT number on it? The invoice for my last payment only shows my name.
billing | no | pro | web app | You charged the monthly price after we switched to yearly payment. Please refund the difference.
billing | no | free | web app | I'm on the free plan, so why is there a pending $8 charge on my card?
billing | no | enterprise | web app | Please send every invoice to ap@northwind-logistics.com with PO 4471, our payment system needs it.
billing | yes | pro | web app | The upgrade charged my card but the workspace still says Free, and my client report is due tomorrow.
billing | no | free | web app | Is there a discounted price for nonprofits? We are a small charity and can't pay the full price by card.
billing | no | pro | web app | I was charged for 3 extra seats after removing two people. Will the refund be prorated?
billing | no | free | mobile app | Payment on my Android phone fails with "card declined" but my bank says the card is fine.
billing | no | enterprise | web app | Our renewal invoice uses the old list price instead of our contract price. Please send a corrected invoice.
billing | no | free | web app | I downgraded to Free two months ago and you still charge my card every month. Please refund me.
billing | no | pro | web app | Where do I download every invoice from 2023? Our accountant needs proof of each payment for taxes.
billing | no | enterprise | api | The API overage charge on this month's invoice is wrong, our request counts stay under the limit.
billing | no | enterprise | web app | Can we pay the yearly invoice by bank transfer instead of card payment?
billing | yes | pro | web app | My payment failed and the workspace will be suspended in 24 hours even though I updated my card twice!
billing | no | pro | mobile app | Why is the price on the iPhone $14.99 when the website charges $12 for the same plan?
billing | no | pro | desktop app | I bought a desktop license and was charged VAT although we are a registered business. Can you refund the VAT?
bug | no | pro | mobile app | The iPhone app crashes every time I tap Start Timer. Reinstalling didn't fix the crash or the error.
bug | yes | enterprise | desktop app | Since today's update the Windows client crashes on launch with an error. Nobody in the office can track time.
bug | no | pro | web app | Exporting a report to PDF fails with error 500 in the browser.
bug | yes | enterprise | api | Our webhook stopped working yesterday and every retry fails with an error. Our sync is a day behind.
bug | yes | pro | desktop app | The Mac timer resets to zero after sleep, so every night I lose tracked hours. Something is broken, no error shown.
bug | no | free | mobile app | The project list on Android is empty and shows an error, while the website shows all 12 projects.
bug | no | pro | api | GET /v2/entries returns the wrong week when I pass a timezone. The date filter is broken and fails silently.
bug | no | pro | web app | The weekly report total is broken: Monday says 7.5 hours but the total says 6. Looks like a calculation error.
bug | yes | enterprise | api | Production outage: every request to the API fails with error 503 since 09:40 UTC, 300 users affected.
bug | no | free | web app | Dragging an entry in the calendar is broken in Chrome, it jumps to the wrong day and then crashes the tab.
bug | no | pro | desktop app | The Windows client uses 100% CPU after a few hours and then crashes. Version 4.2.1.
bug | no | free | mobile app | Reminder notifications on my Android phone arrive twice. Some error in the scheduling? It looks broken.
bug | yes | pro | mobile app | Sync on my iPhone is broken: it fails with an error and two days of time tracked offline are gone. I bill clients tomorrow!
bug | no | pro | api | The Python SDK crashes with KeyError 'rate' when a project has no hourly rate, an error in your client library.
bug | no | pro | web app | The Save button on the timesheet template is broken, it just spins forever and fails without an error.
bug | yes | pro | desktop app | After the macOS update the Mac timer won't start at all, it crashes right away with an error and I can't work today.
bug | no | free | mobile app | Dark mode on Android is broken: the timesheet text is black on black. Display error?
bug | no | enterprise | api | The API fails with error 429 on the first request of the hour though the header says 1000 remaining.
bug | no | pro | web app | Search in the browser fails for client names with accents, "Cafe Muller" gives an error.
bug | no | enterprise | web app | The dashboard charts are broken in Safari and the console shows a JavaScript error.
account | no | free | web app | I forgot my password and the reset email never arrives, so I can't log in.
account | yes | enterprise | web app | Our SSO login through Okta stopped after a certificate change. None of our 80 employees can sign in.
account | no | pro | web app | How do I make my colleague an admin with owner access before I leave the company?
account | yes | pro | web app | I lost my phone and can't get past 2FA. Please reset two-factor so I can log in and access my timesheets.
account | no | free | web app | Please delete my login and all my data, I no longer need access.
account | no | pro | web app | How do I change the email address I use to log in? My password should stay the same.
account | no | enterprise | web app | Can an admin limit what contractors can access in our workspace?
account | yes | pro | web app | I'm locked out after too many login attempts and I have a client demo in an hour. Please unlock my access!
account | no | pro | web app | How do I invite a new member without giving them admin access?
account | no | enterprise | api | Can we provision logins from Azure AD through SCIM for our 400 seats, with admin access for managers?
account | no | free | mobile app | My profile on the iPhone still shows my maiden name. Where do I change the name I log in with?
account | no | free | web app | I signed up twice with the same email, once with Google sign in. Can you merge the two logins?
account | yes | enterprise | web app | A former employee still has admin access to our workspace and we can't remove his login.
account | no | free | mobile app | Sign in with Apple on my iPad says "user not found" although I signed up that way. I can't log in.
account | no | pro | api | Which API token should a service user have, so our integration isn't tied to my personal login?
account | no | pro | web app | I'm the only admin and I'm going on leave. How do I give admin access to someone else?
account | no | pro | desktop app | The Windows client asks for my password every time I open it, even with "remember me" checked. Why must I log in again?
account | no | enterprise | web app | Can we move all 120 users to our new email domain without anyone losing access or needing a new password?
feature_request | no | pro | mobile app | It would be great to have a home screen widget on the iPhone to start the timer. Please add one!
feature_request | no | enterprise | web app | Could you add a Jira integration so entries link to issues? Our teams would love it.
feature_request | no | free | desktop app | Please add dark mode to the Mac timer, it would be great for late shifts.
feature_request | no | pro | web app | Would love an Excel export of timesheets with our own columns. Any chance you add it?
feature_request | no | pro | web app | Could you add bulk editing? Changing 200 entries one by one is painful, that would be great.
feature_request | no | pro | api | Could you add a webhook for when a timer stops? It would be great for our integration.
feature_request | no | pro | web app | I wish you would add Spanish timesheets for my clients in Madrid. I'd love that.
feature_request | no | pro | web app | Please add a default hourly rate per client, that would save me a lot of time, I'd love it.
feature_request | no | enterprise | desktop app | Would you add an offline mode to the Windows client? Our consultants would love it on flights.
feature_request | no | enterprise | api | Could you add GraphQL to the API? It would be great, REST needs dozens of calls for nested projects.
feature_request | no | free | mobile app | Would love to see weekly goal progress on the Android home screen. Great idea to add?
feature_request | no | enterprise | web app | We would love an audit history of who changed which entry. Is that on the roadmap? We'd love it.
feature_request | no | free | mobile app | Please add Apple Watch support so I can start timers from my wrist. Would love it.
feature_request | no | pro | api | Would it be possible to add cursor pagination to the API? It would be great for large exports.
feature_request | no | pro | desktop app | Please add keyboard shortcuts to the Mac timer, like a global hotkey to pause. Other tools have it and it's great.
feature_request | no | enterprise | web app | It would be great to lock timesheets after approval. Please consider adding it.
feature_request | no | pro | desktop app | Would love a Linux version of the desktop timer, our whole dev team uses Ubuntu. Please add it.
feature_request | yes | enterprise | web app | Our biggest client requires SAML login. Could you add that feature this month? The deal depends on it.
other | no | pro | web app | Do you have a partner program for agencies that resell Tallybook?
other | no | free | web app | Just wanted to say the new reports page is fantastic, thank you!
other | no | enterprise | web app | Quick question: where are your servers located? Our legal team asks whether data stays in the EU.
other | no | enterprise | web app | A question from our security team: could you fill out our questionnaire before the contract renewal?
other | no | free | web app | I'm a journalist writing about time tracking tools. Is there someone I could interview?
other | no | enterprise | web app | Question about GDPR: do you sign a DPA with your larger customers?
other | no | free | web app | Are you hiring support engineers in Lisbon? Just a question, I'm a big fan.
other | no | enterprise | web app | Do you offer onboarding training for a new team of 25 people?
other | no | enterprise | api | Question: what is your uptime SLA for the API? We are comparing vendors.
other | no | free | mobile app | Question: is the iPhone version free for personal projects, or only for companies?
other | no | pro | web app | Do you have a referral program? Several friends want to join after my recommendation.
other | no | pro | web app | We're moving from Harvest. Is there a guide for importing our old data?
"""


def rows() -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for line in TABLE.strip().splitlines():
        category, urgent, plan, product, ticket = (part.strip() for part in line.split("|", 4))
        found.append(
            {
                "ticket": ticket,
                "category": category,
                "urgent": urgent == "yes",
                "customer": {"plan": plan, "product": product},
            }
        )
    return found


def write(path: Path, data: list[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in data:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    data = rows()
    random.Random(SEED).shuffle(data)
    write(HERE / "dev.jsonl", data[:DEV_SIZE])
    write(HERE / "train.jsonl", data[DEV_SIZE:])
    print(f"wrote {len(data) - DEV_SIZE} train and {DEV_SIZE} dev rows to {HERE}")


if __name__ == "__main__":
    main()
