"""The PDQ summary's treatment knowledge at the point of care: treatment-options cards by situation, the
transplant work-up card, and the HSCT order check (order-sign). Wording is in cards/; the situation is
chosen by service/rules/situation.py."""
