# ruff: noqa: E501 - one email per line reads better than wrapped strings
"""Writes train.jsonl and dev.jsonl for the two-stage pipeline example.

The emails are hand-written messages to the customer service of "Hearth & Loom", an online
home-goods shop. Each line of the table below is one email with its labels: what went wrong
(issue), what the customer asks for (wants), the item concerned, and the action the shop's
policy prescribes (see ../README.md). Running this script again rewrites the same two files
(the split is a fixed shuffle).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).parent
SEED = 11
DEV_SIZE = 32

# issue | wants | item | action | email
TABLE = """
damaged | refund | ceramic mug set | refund | Two of the four mugs came cracked and the box was crushed and dented on one side. I'd like my money back for the set.
damaged | refund | floor lamp | refund | The floor lamp is broken: a bent pole and a torn shade. Honestly I just want a refund, not another one.
damaged | replacement | glass vase | reship | Opened the parcel this morning and the vase was shattered, broken into pieces. It's a gift, could you send another one quickly?
damaged | replacement | oak side table | reship | One leg of the side table is cracked and split along the grain, clearly broken in transit. Please send a replacement table.
damaged | replacement | stoneware plates | reship | Three of the six plates are chipped and one is cracked. Can you send replacements for the broken ones?
damaged | refund | wall mirror | refund | The mirror shattered in transit, broken glass everywhere in the box. I want a full refund.
damaged | refund | linen duvet cover | refund | The duvet cover is torn along the seam and stained. Please give me my money back.
damaged | refund | cast iron skillet | refund | The skillet handle is cracked clean through, it must have broken in the post. I'd like to be refunded.
damaged | replacement | scented candle trio | reship | All three candle jars are cracked and broken, wax leaked over everything. Please replace the set.
damaged | refund | bamboo shelf | refund | The shelf panels are dented and one is broken in half. I'd rather get my money back than wait again.
damaged | replacement | espresso cups | reship | One cup came with a chipped handle and a cracked saucer. Could you send a replacement? The rest are lovely.
damaged | replacement | table lamp | reship | The lamp base is cracked and the shade is dented, the box looks like it was dropped. Please send me a new one.
damaged | replacement | wool throw | reship | The throw is torn, there's a big hole straight out of the packaging. Can you replace it?
damaged | replacement | glass carafe | reship | My carafe arrived broken, the neck is shattered. I still love it, could you ship another one?
damaged | replacement | oak chopping board | reship | The chopping board is cracked and split down the middle. I'd like a replacement please.
damaged | replacement | stoneware bowls | reship | Two bowls are shattered and a third is chipped. Can you send replacements for those?
damaged | replacement | rattan basket | reship | The basket is crushed and the weave is torn and broken at the rim. Please replace it.
damaged | replacement | picture frame | reship | The glass in the frame is cracked and the corner is chipped. Could I get a replacement frame sent out?
damaged | replacement | teapot | reship | The teapot lid is chipped and the spout is cracked. Please send another teapot.
damaged | replacement | desk lamp | reship | The desk lamp switch is broken off and the cable is torn. Can you ship a replacement?
not_arrived | update | linen curtains | send_tracking | I ordered curtains two weeks ago and the parcel has never arrived. Where is my delivery?
not_arrived | update | hand towels | send_tracking | Still waiting for my towels, order 88213. Could you tell me where the parcel is and when the delivery comes?
not_arrived | update | floor cushion | send_tracking | Any news on my floor cushion? The delivery was due last Friday and the tracking hasn't changed.
not_arrived | update | kitchen clock | send_tracking | The website says shipped but I have no tracking number and nothing has arrived. When will the parcel get here?
not_arrived | update | ceramic planter | send_tracking | My planter hasn't arrived yet. Can you check the tracking status of the delivery?
not_arrived | update | velvet pillows | send_tracking | It's been ten days and the parcel with the pillows hasn't arrived. Where is the delivery?
not_arrived | update | spice rack | send_tracking | Just checking on my order, the spice rack still hasn't arrived. Is the parcel on its way? Tracking shows nothing.
not_arrived | update | door mat | send_tracking | No delivery yet for my door mat and the tracking link is blank. Could you let me know where it is?
not_arrived | refund | dining chairs | carrier_claim | Tracking says the chairs were delivered on Monday but no parcel came to my door. I want my money back.
not_arrived | refund | coffee table | carrier_claim | The courier marked my coffee table as delivered, but it never arrived. Please refund me.
not_arrived | update | bedside lamp | send_tracking | My parcel seems stuck somewhere, tracking hasn't moved in a week and nothing arrived. Can you tell me where it is?
not_arrived | refund | jute rug | carrier_claim | The rug never arrived even though tracking says delivered to a neighbour we don't have. Refund please.
not_arrived | update | knife block | send_tracking | Eight days and no delivery of my knife block, and the tracking page just says in transit. Any update on where it is?
not_arrived | replacement | bath mat | carrier_claim | Tracking shows delivered but there's no parcel anywhere. Could you send the bath mat again?
not_arrived | replacement | serving tray | carrier_claim | The courier lost the parcel with my serving tray, it never arrived. Please ship another one.
not_arrived | update | table runner | send_tracking | My table runner still hasn't arrived and the tracking page hasn't changed since Tuesday. When will the delivery come?
not_arrived | update | candle holders | send_tracking | The parcel with my candle holders never arrived and I have no tracking number. Could you let me know where it is?
not_arrived | replacement | laundry basket | carrier_claim | The laundry basket never arrived, but the tracking page says delivered. Please resend it.
wrong_item | replacement | bath towels | reship | I ordered the sage green towels and you sent grey ones instead. Can you send the green ones?
wrong_item | replacement | dinner plates | reship | You sent me side plates instead of the dinner plates I ordered. Please send what I ordered.
wrong_item | replacement | linen sheets | reship | I received single sheets instead of the double size I ordered. Please exchange them for the right size.
wrong_item | replacement | wall clock | reship | I received a black clock but ordered the brass one. Can you send the brass clock instead?
wrong_item | replacement | throw pillows | reship | The pillows you sent are striped, I ordered plain navy. Please send the navy ones instead.
wrong_item | replacement | reading lamp | reship | This isn't the lamp I ordered, you sent a completely different model instead. Please send mine.
wrong_item | replacement | storage baskets | reship | I received the small baskets instead of the large set I ordered. Could you exchange them?
wrong_item | replacement | coffee mugs | reship | I ordered four white mugs and received four blue ones instead. Please send the white mugs.
wrong_item | replacement | blackout curtains | reship | The curtains you sent are 160 cm long, I ordered 220 cm. Please send the correct length instead.
wrong_item | refund | shower curtain | return_label | The shower curtain you sent is not the pattern I ordered from the photo. I'd rather just get a refund.
wrong_item | replacement | cutlery set | reship | This isn't the cutlery set I ordered, you sent the cheaper one instead. Please send the set I ordered.
wrong_item | refund | duvet | return_label | I received a summer duvet instead of the winter one I ordered. I don't want to wait again, please refund it.
wrong_item | refund | bookends | return_label | You sent marble bookends, I ordered the wooden ones. Refund please, I found them elsewhere.
wrong_item | replacement | plant stand | reship | The plant stand I received is the wrong colour and size, not what I ordered. Please send the right one.
wrong_item | replacement | salad bowl | reship | I ordered the large salad bowl and you sent a tiny one instead. Please send the large one.
wrong_item | replacement | bath robe | reship | I received a men's robe in XL instead of the women's small I ordered. Please send the right robe.
changed_mind | refund | armchair | return_label | The armchair is fine, it just doesn't suit our living room after all and we don't need it. Can I return it for a refund?
changed_mind | refund | arc floor lamp | return_label | I've decided I don't need the floor lamp anymore. It's unopened, how do I return it for a refund?
changed_mind | refund | wool rug | return_label | The rug looks nice but we decided it's too busy for our hallway. I'd like to return it and get my money back.
changed_mind | refund | bar stools | return_label | We bought stools elsewhere so we no longer need these. Please refund us when we return them.
changed_mind | refund | bed linen set | return_label | I've decided the colour doesn't work in our bedroom after all. I'd like to return the set for a refund.
changed_mind | refund | round mirror | return_label | We moved and no longer need the mirror. Can I return it and be refunded?
changed_mind | refund | kettle | return_label | I got a kettle as a present so I don't need the one I ordered. Still boxed, can I return it for a refund?
changed_mind | refund | cushion covers | return_label | The cushion covers are nice but we decided they're not our style after all. How do I return them for my money back?
changed_mind | refund | nesting tables | return_label | The tables are too big for our flat, we decided we don't need them after all. I'd like to return them for a refund.
changed_mind | refund | wall art print | return_label | I've decided against the print, it doesn't go with the room after all. Could I return it for a refund?
changed_mind | refund | stoneware mugs | return_label | Ordered these on impulse and decided I don't need them. Unused, can I return them for a refund?
changed_mind | replacement | percale sheets | return_label | The sheets are lovely but I've decided I'd prefer white rather than oatmeal. Can I return them for an exchange?
changed_mind | refund | throw blanket | return_label | I've decided the grey throw is too dull for the sofa after all. Can I return it for a refund?
changed_mind | refund | beach towels | return_label | We decided we don't need the beach towels after all, our trip was cancelled. Could I return them for a refund?
changed_mind | replacement | table lamp | return_label | The lamp is nice but we decided we'd rather have the taller model. Can I return it for an exchange?
changed_mind | refund | dinner set | return_label | We decided the white dinner set doesn't suit our kitchen after all. Can I return it and get my money back?
charged_twice | refund | ceramic planter | refund | My card statement shows two identical payments for one planter order. Please refund the duplicate payment.
charged_twice | refund | wool rug | refund | I was charged twice for the rug, two payments of 189 on my card on the same day. I want one of them refunded.
charged_twice | refund | dining chairs | refund | The payment for my chairs went through twice on my card. Please give back the duplicate amount.
charged_twice | refund | bath towels | refund | I see a duplicate payment for a single towel order in my bank app. Refund the second payment please.
charged_twice | refund | kettle | refund | You took the payment for my kettle twice from my card. Please return the duplicate.
charged_twice | refund | floor lamp | refund | Two identical payments for the floor lamp appeared on my credit card statement. Can you reverse one?
charged_twice | refund | bed linen set | refund | Paid once at checkout but my card statement shows the payment twice. I'd like the extra money back.
charged_twice | refund | teapot | refund | Duplicate payment for my teapot order, both on the same card. Please refund one payment.
charged_twice | refund | storage baskets | refund | The checkout froze, I clicked pay again, and now my card shows a duplicate payment for the baskets. Please refund one.
charged_twice | refund | coffee mugs | refund | My bank statement shows a double payment for the mugs, charged twice. Please send one payment back.
charged_twice | update | side table | refund | There are two payments for the side table on my card statement. Can you explain why and let me know what happens next?
charged_twice | update | linen curtains | refund | Why do I see the curtain payment twice on my card? Please look into the duplicate and tell me.
charged_twice | update | desk lamp | refund | My credit card statement shows the desk lamp payment two times. Could you check what happened?
charged_twice | update | wall clock | refund | I noticed a duplicate payment on my card for the clock. What is going on with my statement?
"""


def rows() -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for line in TABLE.strip().splitlines():
        issue, wants, item, action, email = (part.strip() for part in line.split("|", 4))
        found.append(
            {"email": email, "issue": issue, "wants": wants, "item": item, "action": action}
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
