"""Small built-in vocabularies, so procedural tasks need no external data.

Words are short, common, lower-case and digit-free: each is a token or two for a small model, and
no word can be mistaken for a number in the extraction tasks.
"""

WORDS = (
    "apple", "river", "green", "house", "music", "table", "cloud", "stone", "bread", "light",
    "paper", "horse", "quiet", "water", "smile", "garden", "window", "silver", "orange", "pencil",
    "summer", "winter", "forest", "basket", "candle", "dragon", "planet", "rabbit", "letter", "banana",
    "tiger", "chair", "ocean", "sugar", "train", "field", "dream", "storm", "piano", "lemon",
    "happy", "little", "bright", "cold", "warm", "blue", "red", "fast", "slow", "soft",
    "book", "door", "tree", "bird", "fish", "moon", "star", "road", "ship", "milk",
)

ITEMS = (
    "apple", "pear", "plum", "grape", "mango", "cherry", "peach", "lemon", "melon", "kiwi",
    "cat", "dog", "owl", "fox", "bear", "wolf", "duck", "goat", "lion", "frog",
    "red", "blue", "green", "pink", "black", "white", "gray", "gold",
)

NAMES = ("Ada", "Ben", "Maria", "Omar", "Lena", "Ken", "Priya", "Tom", "Sara", "Ivan", "Mei", "Leo",
         "Nora", "Sam", "Zoe", "Hugo")

CITIES = ("Paris", "Lima", "Oslo", "Cairo", "Tokyo", "Rome", "Berlin", "Dublin", "Quito", "Seoul")

COLORS = ("red", "blue", "green", "yellow", "purple", "orange", "black", "white")

PETS = ("cat", "dog", "parrot", "hamster", "turtle", "rabbit")

DOMAINS = ("example.com", "mail.org", "acme.io", "uni.edu", "post.net", "shop.co")
